// SPDX-License-Identifier: MIT
// Exit codes shared by the DJB programs. qmail-queue's own table is in qmail's library (qmail/src/lib/queue/qq.ts).
export const EXIT_OK = 0;
export const EXIT_NEGATIVE = 1;
export const EXIT_USAGE = 100;
export const EXIT_TEMP = 111;
