import { describe, expect, it } from 'vitest';
import { defaultDeviceRevertMinutes, lastDue, nextRuns, parseDrills } from '../src/drills/config.js';

/** drills.yaml: defaults, schedules in their time zone, and every mistake placed at file:line:col. */
const PLAYBOOKS = ['isolate-host', 'drop-internet-uplinks'];

/** What parseDrills refuses the text with ('' when it takes it). */
function refusal(text: string): string {
  try {
    parseDrills('drills.yaml', text, PLAYBOOKS);
    return '';
  } catch (err) {
    return (err as Error).message;
  }
}

describe('drills.yaml', () => {
  it('loads with defaults; next and last times follow the cron in its time zone', () => {
    const [d] = parseDrills(
      'drills.yaml',
      'drills:\n  - { id: weekly, playbook: drop-internet-uplinks, schedule: { cron: "0 3 * * 1", tz: Europe/Stockholm } }\n',
      PLAYBOOKS,
    );
    expect(d).toMatchObject({ mode: 'verify', holdSeconds: 60, regressionMarginPct: 25, params: {} });
    const from = new Date('2026-11-30T12:00:00Z'); // a Monday
    // 03:00 in Stockholm (UTC+1 in winter) is 02:00 UTC.
    expect(nextRuns(d!, from, 2).map((t) => t.toISOString())).toEqual(['2026-12-07T02:00:00.000Z', '2026-12-14T02:00:00.000Z']);
    expect(lastDue(d!, from)!.toISOString()).toBe('2026-11-30T02:00:00.000Z');
  });

  it('places each mistake: unknown playbook, bad cron, bad time zone, a probe on a verify drill, a probe address that is not one', () => {
    const text = [
      'drills:',
      '  - id: a',
      '    playbook: nope',
      '  - id: b',
      '    playbook: isolate-host',
      '    schedule: { cron: "61 * * * *", tz: Europe/Stockholm }',
      '  - id: c',
      '    playbook: isolate-host',
      '    schedule: { cron: "0 3 * * 1", tz: Mars/Olympus }',
      '  - id: d',
      '    playbook: isolate-host',
      '    probe: { from: fw, to: 198.51.100.200 }',
      '',
    ].join('\n');
    const message = refusal(text);
    expect(message).toMatch(/^drills\.yaml:3:15 drills\[0\]\.playbook: unknown playbook "nope"/m);
    expect(message).toMatch(/drills\.yaml:6:\d+ drills\[1\]\.schedule\.cron: not a cron expression/);
    expect(message).toMatch(
      /drills\.yaml:6:\d+ drills\[2\]\.schedule\.tz|drills\.yaml:9:\d+ drills\[2\]\.schedule\.tz: unknown time zone "Mars\/Olympus"/,
    );
    expect(message).toMatch(/drills\.yaml:12:\d+ drills\[3\]\.probe: a probe proves a live drill/);
    // A value that would reach the probe host's command line is refused as it is read.
    expect(() =>
      parseDrills(
        'drills.yaml',
        'drills:\n  - id: e\n    playbook: isolate-host\n    mode: live\n    probe: { from: fw, to: "198.51.100.200; reboot" }\n',
        PLAYBOOKS,
      ),
    ).toThrow(/drills\.yaml:5:\d+ drills\[0\]\.probe\.to: an IPv4 or IPv6 address/);
  });

  it('live drills get a device-side auto-revert that outlasts the hold; one set shorter than the hold, or on a verify drill, is refused at its place', () => {
    const drills = parseDrills(
      'drills.yaml',
      [
        'drills:',
        '  - { id: a, playbook: isolate-host, mode: live, holdSeconds: 60 }',
        '  - { id: b, playbook: isolate-host, mode: live, holdSeconds: 3480 }',
        '  - { id: c, playbook: isolate-host, mode: live, holdSeconds: 3481 }',
        '  - { id: d, playbook: isolate-host, mode: live, holdSeconds: 600, deviceRevertMinutes: 0 }',
        '  - { id: e, playbook: isolate-host, mode: live, holdSeconds: 600, deviceRevertMinutes: 10 }',
        '  - { id: f, playbook: isolate-host }',
        '',
      ].join('\n'),
      PLAYBOOKS,
    );
    // The hold plus two minutes; past 60 minutes the drill is not device-backed.
    expect(drills.map((d) => d.deviceRevertMinutes)).toEqual([3, 60, 0, 0, 10, undefined]);
    expect(defaultDeviceRevertMinutes(1)).toBe(3);

    const text = [
      'drills:',
      '  - id: short',
      '    playbook: isolate-host',
      '    mode: live',
      '    holdSeconds: 600',
      '    deviceRevertMinutes: 9',
      '  - id: verify',
      '    playbook: isolate-host',
      '    deviceRevertMinutes: 5',
      '',
    ].join('\n');
    const message = refusal(text);
    expect(message).toMatch(
      /^drills\.yaml:6:26 drills\[0\]\.deviceRevertMinutes: 9 min is shorter than the hold \(holdSeconds 600\): the device would undo the drill before its hold ends/m,
    );
    expect(message).toMatch(
      /^drills\.yaml:9:5 drills\[1\]\.deviceRevertMinutes: the device-side auto-revert backs a live drill: mode must be live/m,
    );
    // At most an hour (AOS-CX's checkpoint auto takes 1-60 minutes).
    expect(() =>
      parseDrills('drills.yaml', 'drills:\n  - { id: long, playbook: isolate-host, mode: live, deviceRevertMinutes: 61 }\n', PLAYBOOKS),
    ).toThrow(/^drills\.yaml:2:\d+ drills\[0\]\.deviceRevertMinutes: Too big/);
  });
});
