// @endo/init's declarations re-export '@endo/lockdown/commit.js', which ships none: a consumer
// whose tsc checks libraries (skipLibCheck: false) would fail on it. It exports nothing anyway.
declare module '@endo/lockdown/commit.js';
