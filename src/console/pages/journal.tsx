import { useEffect, useState } from 'preact/hooks';
import { ApiError, api } from '../api.js';
import { formatTime, t } from '../i18n.js';
import { href } from '../router.js';
import type { JournalEntry } from '../types.js';
import { ErrorBox, Loading, PageTitle } from '../ui.js';
import { useApi } from '../use-api.js';

interface Verify {
  ok: boolean;
  entries: number;
  problems: string[];
}

/** A run's journal, entry by entry, and whether the journal's hash chain is intact. */
export function Journal({ id }: { id: string }) {
  const entries = useApi<JournalEntry[]>(`/runs/${id}/journal`);
  const [verify, setVerify] = useState<Verify>();
  const [verifyError, setVerifyError] = useState<ApiError>();
  useEffect(() => {
    api<Verify>('GET', '/journal/verify')
      .then(setVerify)
      .catch((err: unknown) => {
        // 409 is an answer, not a failure: the chain is broken and the body says where.
        if (err instanceof ApiError && err.status === 409 && err.body) setVerify(err.body as unknown as Verify);
        else setVerifyError(err as ApiError);
      });
  }, [id]);
  return (
    <section>
      <PageTitle>{t('journal.title', { run: id })}</PageTitle>
      <p>
        <a href={href('run', id)}>← {t('journal.backToRun')}</a>
      </p>
      <ErrorBox error={verifyError} />
      {verify ? (
        <div class={`outcome ${verify.ok ? 'ok' : 'bad'}`} role={verify.ok ? 'status' : 'alert'} data-testid="verify">
          <p class="outcome-word">{verify.ok ? t('journal.intact') : t('journal.broken')}</p>
          <p>{t('journal.checked', { n: verify.entries })}</p>
          {verify.problems.length ? (
            <ul>
              {verify.problems.map((p) => (
                <li key={p}>{p}</li>
              ))}
            </ul>
          ) : null}
        </div>
      ) : (
        <Loading when />
      )}
      <Loading when={entries.loading && !entries.data} />
      <ErrorBox error={entries.error} />
      <ol class="journal" data-testid="journal">
        {(entries.data ?? []).map((e) => (
          <li key={e.seq}>
            <p>
              <span class="seq">#{e.seq}</span> <strong>{e.type}</strong> <span class="muted">{formatTime(e.ts)}</span>
            </p>
            <p class="muted">{summary(e)}</p>
            <details>
              <summary>{t('journal.details')}</summary>
              <pre>{JSON.stringify(e.data, null, 2)}</pre>
              <p class="muted">
                {t('journal.hash')} <code>{e.hash.slice(0, 16)}…</code>
              </p>
            </details>
          </li>
        ))}
      </ol>
    </section>
  );
}

/** The one line that matters of an entry, without opening its data. */
function summary(e: JournalEntry): string {
  const d = e.data;
  const parts = [d.state, d.device, d.actionId, d.by, d.reason, d.error].filter((x) => typeof x === 'string' && x);
  return parts.join(' · ');
}
