/** A URL as it may be shown to people: scheme and host only (the path of an incoming webhook is its secret, and so are credentials). */
export function redactUrl(url: string): string {
  const m = /^([a-z][a-z0-9+.-]*:\/\/)(?:[^@/?#]*@)?([^/?#]*)/i.exec(url);
  return m ? `${m[1]}${m[2]}/…` : '…';
}

