import { describe, expect, test } from "bun:test";
import { AuthType, BackendType, FrontendType, NoticeField, StartupCode, describeTypeByte, knownBackendTypes, knownFrontendTypes } from "./messages.ts";

// The letters as the PostgreSQL "Message Formats" page lists them, typed in independently of the tables.
const FRONTEND_LETTERS: Record<keyof typeof FrontendType, string> = {
  Query: "Q", Parse: "P", Bind: "B", Describe: "D", Execute: "E", Sync: "S", Flush: "H", Close: "C",
  CopyData: "d", CopyDone: "c", CopyFail: "f", FunctionCall: "F", PasswordMessage: "p", Terminate: "X",
};
const BACKEND_LETTERS: Record<keyof typeof BackendType, string> = {
  Authentication: "R", BackendKeyData: "K", ParameterStatus: "S", ReadyForQuery: "Z", RowDescription: "T",
  DataRow: "D", CommandComplete: "C", ErrorResponse: "E", NoticeResponse: "N", NotificationResponse: "A",
  ParseComplete: "1", BindComplete: "2", CloseComplete: "3", NoData: "n", PortalSuspended: "s",
  ParameterDescription: "t", EmptyQueryResponse: "I", CopyInResponse: "G", CopyOutResponse: "H",
  CopyBothResponse: "W", CopyData: "d", CopyDone: "c", NegotiateProtocolVersion: "v", FunctionCallResponse: "V",
};
const NOTICE_LETTERS: Record<keyof typeof NoticeField, string> = {
  severity: "S", severityNonLocalized: "V", code: "C", message: "M", detail: "D", hint: "H", position: "P",
  internalPosition: "p", internalQuery: "q", where: "W", schema: "s", table: "t", column: "c", dataType: "d",
  constraint: "n", file: "F", line: "L", routine: "R",
};

describe("wire constants", () => {
  test("frontend type bytes match the protocol letters", () => {
    for (const [name, letter] of Object.entries(FRONTEND_LETTERS)) {
      expect([name, String.fromCharCode(FrontendType[name as keyof typeof FrontendType])]).toEqual([name, letter]);
    }
    expect(Object.keys(FrontendType).sort()).toEqual(Object.keys(FRONTEND_LETTERS).sort());
  });

  test("backend type bytes match the protocol letters", () => {
    for (const [name, letter] of Object.entries(BACKEND_LETTERS)) {
      expect([name, String.fromCharCode(BackendType[name as keyof typeof BackendType])]).toEqual([name, letter]);
    }
    expect(Object.keys(BackendType).sort()).toEqual(Object.keys(BACKEND_LETTERS).sort());
  });

  test("notice field codes match the protocol letters", () => {
    for (const [name, letter] of Object.entries(NOTICE_LETTERS)) {
      expect([name, String.fromCharCode(NoticeField[name as keyof typeof NoticeField])]).toEqual([name, letter]);
    }
  });

  test("startup codes and authentication subtypes", () => {
    expect(StartupCode).toEqual({ ProtocolVersion3: 196608, CancelRequest: 80877102, SSLRequest: 80877103, GSSENCRequest: 80877104 });
    expect(StartupCode.ProtocolVersion3 as number).toBe(3 << 16);
    expect(StartupCode.SSLRequest as number).toBe((1234 << 16) | 5679);
    expect([AuthType.Ok, AuthType.CleartextPassword, AuthType.MD5Password, AuthType.SASL, AuthType.SASLContinue, AuthType.SASLFinal]).toEqual([0, 3, 5, 10, 11, 12]);
  });

  test("known-type lookup tables hold exactly the listed bytes", () => {
    const front = knownFrontendTypes();
    const back = knownBackendTypes();
    const frontSet = new Set(Object.values(FRONTEND_LETTERS).map((c) => c.charCodeAt(0)));
    const backSet = new Set(Object.values(BACKEND_LETTERS).map((c) => c.charCodeAt(0)));
    for (let b = 0; b < 256; b++) {
      expect([b, front[b] === 1]).toEqual([b, frontSet.has(b)]);
      expect([b, back[b] === 1]).toEqual([b, backSet.has(b)]);
    }
  });

  test("describeTypeByte", () => {
    expect(describeTypeByte(0x51)).toBe("'Q' (0x51)");
    expect(describeTypeByte(0)).toBe("0x00");
  });
});
