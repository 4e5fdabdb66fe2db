// After tsc: make the CLI entry executable (tsc writes 0644), so `npx tribe` works from a clean build.
import { chmodSync } from 'node:fs';

chmodSync(new URL('../dist/runtime/cli/main.js', import.meta.url), 0o755);
