// Ways to damage a buffer file (a SQLite database) for the tests and the fault suite, the same everywhere:
// a gateway must refuse each at start (GW_BUFFER_CORRUPT) and leave the file as it is.
import { closeSync, openSync, statSync, truncateSync, writeSync } from 'node:fs';

const PAGE = 4096;
/** The first page boundary at or after the middle of the file. */
const middlePage = (path) => Math.floor(statSync(path).size / 2 / PAGE) * PAGE;

/** @type {Readonly<Record<'truncated' | 'bad-pages' | 'header', (path: string) => void>>} */
export const BUFFER_DAMAGES = {
  /** Cut to half its size, mid-page. */
  truncated: (path) => truncateSync(path, middlePage(path) + 1000),
  /** Three pages of garbage written over the middle of the file. */
  'bad-pages': (path) => {
    const fd = openSync(path, 'r+');
    writeSync(fd, Buffer.alloc(3 * PAGE, 0xa5), 0, 3 * PAGE, middlePage(path));
    closeSync(fd);
  },
  /** The SQLite header overwritten with text. */
  header: (path) => {
    const fd = openSync(path, 'r+');
    writeSync(fd, Buffer.from('this is not a database file'), 0, 27, 0);
    closeSync(fd);
  },
};
