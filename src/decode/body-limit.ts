/** The one 413 error, for bodies too large as sent or once decoded. */
import { SluiceError } from '../errors.js';

export function bodyTooLarge(maxBytes: number, what = ''): SluiceError {
  return new SluiceError('BODY_TOO_LARGE', `request body is larger than the ${what}limit of ${maxBytes} bytes`, { limitBytes: maxBytes });
}
