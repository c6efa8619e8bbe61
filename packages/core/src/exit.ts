// SPDX-License-Identifier: MIT
// Exit codes shared by the DJB programs. qmail-queue's own table is in qmail's library (qmail/src/lib/qq.ts).
export const EXIT_OK = 0;
export const EXIT_NEGATIVE = 1;
export const EXIT_USAGE = 100;
export const EXIT_TEMP = 111;

// Moved to @qts/qmail/lib/qq. This re-export stays only until qmail/src/lib/inject.ts (restructured
// elsewhere at the time of the move) imports from there; delete it then.
export { qqExitText } from "@qts/qmail/lib/qq";
