// Feature flags over OFREP, with no SDK: one POST per evaluation to the data plane Sluice runs next to the app.
// Sluice gives every instance SLUICE_FLAGS_URL and its stage's key in SLUICE_FLAGS_KEY. When either is missing or the
// data plane does not answer, the caller's default is used, as OpenFeature requires: a flag never breaks a page.
const url = process.env.SLUICE_FLAGS_URL;
const key = process.env.SLUICE_FLAGS_KEY;

export async function flag(name, fallback, context) {
  if (!url || !key) return fallback;
  try {
    const res = await fetch(`${url}/ofrep/v1/evaluate/flags/${encodeURIComponent(name)}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
      body: JSON.stringify({ context }),
      signal: AbortSignal.timeout(500),
    });
    if (res.status !== 200) return fallback;
    const { value } = await res.json();
    return typeof value === typeof fallback ? value : fallback;
  } catch {
    return fallback;
  }
}
