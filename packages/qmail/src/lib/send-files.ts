// SPDX-License-Identifier: MIT
// Queue file names (fmtqfn.c): mess, info, local and remote are split into
// <N % 23>/ subdirectories; todo, intd, bounce and the clean requests are not.

/** conf-split. */
export const SPLIT = 23;

/** fmtqfn: dir + (split ? N%23 + "/" : "") + N. */
export function fmtqfn(dir: string, id: number, split: boolean): string {
  return split ? `${dir}${id % SPLIT}/${id}` : `${dir}${id}`;
}
