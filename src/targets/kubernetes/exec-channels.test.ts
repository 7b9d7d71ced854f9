import { expect, test } from "bun:test";
import { readExitStatus, readResize } from "./exec-channels.ts";

test("the status channel's exit status: Success is 0, NonZeroExitCode carries the code, others their message", () => {
  expect(readExitStatus('{"metadata":{},"status":"Success"}')).toEqual({ exitStatus: 0 });
  expect(readExitStatus('{"metadata":{},"status":"Failure","message":"command terminated with non-zero exit code: exit status 3","reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"3"}]}}')).toEqual({ exitStatus: 3 });
  expect(readExitStatus('{"status":"Failure","message":"container not found"}')).toEqual({ message: "container not found" });
  expect(readExitStatus("not json").message).toContain("other than JSON");
});

test("resize messages: {Width, Height} positive integers, anything else ignored", () => {
  const enc = (s: string) => new TextEncoder().encode(s);
  expect(readResize(enc('{"Width":120,"Height":40}'))).toEqual({ width: 120, height: 40 });
  expect(readResize(enc('{"Width":0,"Height":40}'))).toBeNull();
  expect(readResize(enc("garbage"))).toBeNull();
});
