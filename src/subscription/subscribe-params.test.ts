import { describe, expect, it } from 'vitest';
import type { SluiceError } from '../errors.js';
import { readControlMessage, readSubscribeOptions } from './subscribe-options.js';
import { SUBSCRIBE_PARAM_NAMES } from './subscribe-params.js';

function refusal(text: string): SluiceError {
  try {
    readControlMessage(text);
  } catch (err) {
    return err as SluiceError;
  }
  throw new Error(`${text} was accepted`);
}

describe('subscription options are described once', () => {
  it('readSubscribeOptions reads exactly the options SUBSCRIBE_PARAMS describes (add a new one to both)', () => {
    const asked = new Set<string>();
    readSubscribeOptions('t', (name) => {
      asked.add(name);
      return undefined;
    });
    expect([...asked].sort()).toEqual([...SUBSCRIBE_PARAM_NAMES].sort());
  });
});

describe('control messages say no clearly', () => {
  it('an unknown field of a subscribe message is refused by name, with the close one', () => {
    const e = refusal('{"op":"subscribe","topic":"t","form":"earliest"}');
    expect(e.code).toBe('INVALID_PARAMETER');
    expect(e.message).toBe('unknown subscribe message field "form"; did you mean "from"?');
    expect(e.details).toEqual({ parameter: 'form', didYouMean: 'from' });
  });

  it('an unsubscribe message takes only op and topic', () => {
    expect(refusal('{"op":"unsubscribe","topic":"t","from":"earliest"}').message).toBe(
      'unknown unsubscribe message field "from"; accepted: op, topic',
    );
  });

  it('known fields still work', () => {
    expect(readControlMessage('{"op":"subscribe","topic":"t","from":"earliest","where":"a>1"}')).toMatchObject({
      op: 'subscribe',
      options: { topic: 't', from: { kind: 'earliest' } },
    });
  });
});
