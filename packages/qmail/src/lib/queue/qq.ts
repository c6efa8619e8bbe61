// SPDX-License-Identifier: MIT
// qmail-queue's exit codes, qmail-queue(8).
export const QQ = {
  OK: 0,
  ADDR_TOO_LONG: 11,
  PERM_REFUSED: 31,
  NOMEM: 51,
  TIMEOUT: 52,
  WRITE: 53,
  READ: 54,
  CONFIG: 55,
  NETWORK: 56,
  HOME: 61,
  QUEUE: 62,
  PID: 63,
  MESS: 64,
  INTD: 65,
  TODO: 66,
  TEMP_REFUSED: 71,
  CONN_TIMEOUT: 72,
  CONN_REJECTED: 73,
  COMM_FAILED: 74,
  BUG: 81,
  ENVELOPE: 91,
  EXEC: 120,
} as const;

// qmail_close()'s mapping of a qmail-queue exit code to its D/Z text (qmail.c).
export function qqExitText(code: number | "crash"): string {
  if (code === "crash") return "Zqq crashed (#4.3.0)";
  switch (code) {
    case 0:
      return "";
    case 11:
    case 115:
      return "Denvelope address too long for qq (#5.1.3)";
    case 31:
      return "Dmail server permanently rejected message (#5.3.0)";
    case 51:
      return "Zqq out of memory (#4.3.0)";
    case 52:
      return "Zqq timeout (#4.3.0)";
    case 53:
      return "Zqq write error or disk full (#4.3.0)";
    case 54:
      return "Zqq read error (#4.3.0)";
    case 55:
      return "Zqq unable to read configuration (#4.3.0)";
    case 56:
      return "Zqq trouble making network connection (#4.3.0)";
    case 61:
      return "Zqq trouble in home directory (#4.3.0)";
    case 62:
    case 63:
    case 64:
    case 65:
    case 66:
      return "Zqq trouble creating files in queue (#4.3.0)";
    case 71:
      return "Zmail server temporarily rejected message (#4.3.0)";
    case 72:
      return "Zconnection to mail server timed out (#4.4.1)";
    case 73:
      return "Zconnection to mail server rejected (#4.4.1)";
    case 74:
      return "Zcommunication with mail server failed (#4.4.2)";
    case 81:
    case 91:
      return "Zqq internal bug (#4.3.0)";
    case 120:
      return "Zunable to exec qq (#4.3.0)";
  }
  if (code >= 11 && code <= 40) return "Dqq permanent problem (#5.3.0)";
  return "Zqq temporary problem (#4.3.0)";
}
