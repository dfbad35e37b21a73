// A receipt ledger for inputs that must never consult one (Modbus and serial inputs poll or stream: there is no
// sender to acknowledge). Any call fails the test, so it also proves those inputs leave receipts alone.
import type { ReceiptLedger } from '../../src/inputs/input.js';

const refuse = (what: string): never => {
  throw new Error(`this input must not use the receipt ledger (${what} called)`);
};

export const noReceipts: ReceiptLedger = {
  find: () => refuse('find'),
  latestNumber: () => refuse('latestNumber'),
  purge: () => refuse('purge'),
};
