/**
 * Which CapTP messages of a connection may pass messages that wait for gifts
 * (connection.ts, docs/protocol.md section 13.4): the bootstrap request, the
 * handoff's own calls on the peer's bootstrap (`provideFor`, `acceptFrom`) and
 * the answers to both. The sender marks them `oob`; the receiver honours the
 * mark only for those, so a mark on anything else changes nothing.
 *
 * Both sides keep a little state per connection: which targets are the peer's
 * bootstrap (its question, then the export it answered with), and which
 * questions were asked out of band, so that their answers may pass too.
 */
import type { CapTPMessage } from '@endo/captp';

/** Bootstrap questions of the peer remembered as targets that handoff calls may name (a peer asks one or two). */
const MAX_BOOT_QUESTIONS = 64;
/** The calls of the handoff protocol itself, on the peer's bootstrap object. */
const HANDOFF_METHODS = new Set(['provideFor', 'acceptFrom']);

/** CapTP's slot of the other side: `o+3` ↔ `o-3`. */
export const reverseSlot = (slot: string) => `${slot[0]}${slot[1] === '+' ? '-' : '+'}${slot.slice(2)}`;

export interface OobMarks {
  /** Whether an outbound message is one that may pass (the sender then marks it `oob`). */
  markOutbound(msg: CapTPMessage): boolean;
  /** Whether an inbound message marked `oob` really may pass messages that wait for gifts. */
  mayPass(msg: CapTPMessage): boolean;
}

export const makeOobMarks = (methodOf: (msg: CapTPMessage) => string | undefined): OobMarks => {
  /** Our bootstrap question and, once answered, our import of the peer's bootstrap: where handoff calls go. */
  const peerBootTargets = new Set<string>();
  /** Bootstrap questions the peer asked us, and the export slot of our bootstrap object. */
  const ourBootAnswers = new Set<string>();
  const ourBootExports = new Set<string>();
  /** Handoff calls we sent (their answers may pass) and the peer sent (our answers pass). */
  const oobAsked = new Set<string>();
  const oobToAnswer = new Set<string>();

  const markOutbound = (msg: CapTPMessage): boolean => {
    switch (msg.type) {
      case 'CTP_BOOTSTRAP':
        peerBootTargets.add(String(msg['questionID']));
        return true;
      case 'CTP_CALL':
        if (peerBootTargets.has(String(msg['target'])) && HANDOFF_METHODS.has(methodOf(msg) ?? '')) {
          oobAsked.add(String(msg['questionID']));
          return true;
        }
        return false;
      case 'CTP_RETURN': {
        const id = String(msg['answerID']);
        if (ourBootAnswers.has(id)) {
          const slot = (msg['result'] as { slots?: unknown[] } | undefined)?.slots?.[0];
          if (typeof slot === 'string') ourBootExports.add(slot);
        }
        return oobToAnswer.delete(id) || ourBootAnswers.has(id);
      }
      default:
        return false;
    }
  };

  /** Whether an inbound message marked `oob` may really pass messages waiting for gifts. */
  const mayPass = (msg: CapTPMessage): boolean => {
    if (msg['oob'] !== true) return false;
    switch (msg.type) {
      case 'CTP_BOOTSTRAP':
        ourBootAnswers.add(String(msg['questionID']));
        // Only calls pipelined on a recent bootstrap question still name it: keep a few.
        if (ourBootAnswers.size > MAX_BOOT_QUESTIONS) ourBootAnswers.delete(ourBootAnswers.values().next().value!);
        return true;
      case 'CTP_CALL': {
        const target = String(msg['target']);
        const toBoot = ourBootAnswers.has(target) || ourBootExports.has(reverseSlot(target));
        if (!toBoot || !HANDOFF_METHODS.has(methodOf(msg) ?? '')) return false;
        oobToAnswer.add(String(msg['questionID']));
        return true;
      }
      case 'CTP_RETURN': {
        const id = String(msg['answerID']);
        if (peerBootTargets.has(id)) {
          // Later calls go to the answer's export, the same slot each time: the question can go.
          peerBootTargets.delete(id);
          const slot = (msg['result'] as { slots?: unknown[] } | undefined)?.slots?.[0];
          if (typeof slot === 'string') peerBootTargets.add(reverseSlot(slot));
          return true;
        }
        return oobAsked.delete(id);
      }
      default:
        return false;
    }
  };

  return { markOutbound, mayPass };
};
