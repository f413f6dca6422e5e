import { useEffect, useId, useRef, useState } from 'react';
import type { ActionButton } from '../model/actions.js';
import { routes } from '../model/routes.js';
import { call } from './api.js';

/** Sends an action's call: the comment, when given, as the field the route records it in. */
export async function runAction(a: ActionButton, version: string | undefined, comment: string): Promise<void> {
  const text = comment.trim();
  const stage = a.stage;
  const withComment = (field: 'comment' | 'reason' | undefined) => (text && field ? { [field]: text } : {});
  if (a.name === 'Rollback') {
    await call(routes.rollback, { params: { stage: stage! }, body: { ...withComment('reason') } });
    return;
  }
  if (!version) throw new Error('no release to act on');
  const params = { version };
  switch (a.name) {
    case 'Promote':
      await call(routes.promote, { params, body: { stage, ...(a.full ? { full: true } : {}) } });
      return;
    case 'Approve':
      await call(routes.approve, { params, body: { stage, ...withComment('comment') } });
      return;
    case 'Reject':
      await call(routes.reject, { params, body: { stage, comment: text } });
      return;
    case 'Abort':
      await call(routes.abort, { params, body: { stage, ...withComment('reason') } });
      return;
    case 'Pause':
      await call(routes.pause, { params, body: { stage } });
      return;
    case 'Resume':
      await call(routes.resume, { params, body: { stage } });
      return;
    case 'Retry':
      await call(routes.retry, { params, body: {} });
      return;
  }
}

/** A row of action buttons; each asks for confirmation (with a comment) when it must, then calls the API. */
export function ActionBar({ actions, version, onDone }: { actions: ActionButton[]; version?: string; onDone?: () => void }) {
  const [pending, setPending] = useState<ActionButton | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  if (actions.length === 0) return null;
  const go = async (a: ActionButton, comment: string) => {
    setBusy(true);
    setError(null);
    try {
      await runAction(a, version, comment);
      setPending(null);
      onDone?.();
    } catch (e) {
      setError((e as Error).message);
      setPending(null);
    } finally {
      setBusy(false);
    }
  };
  return (
    <div className="actions">
      {actions.map((a) => (
        <button
          key={`${a.name}-${a.full ? 'full' : ''}`}
          type="button"
          className={`btn ${a.name === 'Abort' || a.name === 'Reject' || a.name === 'Rollback' ? 'danger' : a.name === 'Approve' || a.name === 'Promote' ? 'primary' : ''}`}
          disabled={busy}
          title={a.describe}
          onClick={() => (a.confirm ? setPending(a) : void go(a, ''))}
        >
          {a.name}
        </button>
      ))}
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      {pending && (
        <ConfirmDialog
          title={`${pending.name}${pending.stage ? ` at ${pending.stage}` : ''}${version && pending.name !== 'Rollback' ? ` (${version})` : ''}`}
          text={pending.describe}
          commentRequired={pending.commentRequired}
          commentNote={pending.commentField ? undefined : 'This action records no comment; the audit trail records who and when.'}
          busy={busy}
          onConfirm={(c) => void go(pending, c)}
          onCancel={() => setPending(null)}
        />
      )}
    </div>
  );
}

/** A modal dialog asking to confirm, with a comment. Esc or Cancel closes it; focus starts in the comment. */
export function ConfirmDialog(p: {
  title: string;
  text: string;
  commentRequired?: boolean;
  commentNote?: string | undefined;
  /** The comment field's label (default "Comment"). */
  commentLabel?: string;
  /** The longest comment the route takes (default 2000). */
  commentMaxLength?: number;
  withComment?: boolean;
  busy?: boolean;
  onConfirm: (comment: string) => void;
  onCancel: () => void;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  const [comment, setComment] = useState('');
  const [missing, setMissing] = useState(false);
  const id = useId();
  useEffect(() => {
    const d = ref.current;
    if (d && !d.open) d.showModal();
    return () => d?.close();
  }, []);
  const withComment = p.withComment ?? true;
  return (
    <dialog
      ref={ref}
      aria-labelledby={`${id}-t`}
      aria-describedby={`${id}-d`}
      onCancel={(e) => {
        e.preventDefault();
        p.onCancel();
      }}
    >
      <form
        method="dialog"
        onSubmit={(e) => {
          e.preventDefault();
          if (withComment && p.commentRequired && !comment.trim()) {
            setMissing(true);
            return;
          }
          p.onConfirm(comment);
        }}
      >
        <h2 id={`${id}-t`}>{p.title}</h2>
        <p id={`${id}-d`}>{p.text}</p>
        {withComment && (
          <div className="field">
            <label htmlFor={`${id}-c`}>{p.commentLabel ?? 'Comment'}</label>
            <textarea
              id={`${id}-c`}
              autoFocus
              rows={3}
              maxLength={p.commentMaxLength ?? 2000}
              required={p.commentRequired}
              value={comment}
              aria-invalid={missing}
              aria-describedby={p.commentNote || missing ? `${id}-n` : undefined}
              onChange={(e) => {
                setComment(e.target.value);
                setMissing(false);
              }}
            />
            {(p.commentNote || missing) && (
              <p id={`${id}-n`} className={missing ? 'error' : 'hint'}>
                {missing ? `Say why: a ${(p.commentLabel ?? 'Comment').toLowerCase()} is required.` : p.commentNote}
              </p>
            )}
          </div>
        )}
        <div className="dialog-buttons">
          <button type="button" className="btn" onClick={p.onCancel}>
            Cancel
          </button>
          <button type="submit" className="btn primary" disabled={p.busy}>
            Confirm
          </button>
        </div>
      </form>
    </dialog>
  );
}
