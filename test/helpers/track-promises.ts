/**
 * Import first, before '@endo/init', in a test process that also runs
 * playwright (or anything else that starts an AsyncLocalStorage late).
 *
 * Why: on Node 20 an AsyncLocalStorage turns on Node's promise hooks the first
 * time it is used, and from then on Node writes an async id onto every promise
 * whose callbacks run. A promise made before that is untracked; if SES has
 * hardened it (every E() result is), Node cannot write the id, and its
 * callback throws "Cannot add property Symbol(async_id_symbol), object is not
 * extensible" as an uncaught exception. In the visualizer browser test,
 * playwright starts its AsyncLocalStorage while in-process hosts of the tests
 * running beside it have E() calls in flight: the file then failed at random.
 * An (empty) init hook turned on before anything else makes Node track every
 * promise from its creation, while it can still be written to.
 * (test/unit/track-promises.test.ts shows the failure and this fix.)
 */
import { createHook } from 'node:async_hooks';

createHook({ init() {} }).enable();
