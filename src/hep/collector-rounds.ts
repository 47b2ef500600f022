/** Reading a UDP socket in rounds (the collector's, on the main thread or its own). */
import type dgram from "node:dgram";

/**
 * libuv reads at most 32 datagrams per wake-up of a UDP socket and reads on while more wait: fewer
 * than 32 in one turn of the event loop means the queue is empty. Then receiving stops for `pauseMs`
 * (Node's UDP handle: recvStop/recvStart, not public API: without them the socket reads continuously).
 */
export function readInRounds(
  socket: dgram.Socket,
  pauseMs: number,
): { onDatagram: () => void; stop(): void } | undefined {
  const stateKey = Object.getOwnPropertySymbols(socket).find((k) => k.description === "state symbol");
  const handle = stateKey
    ? (socket as unknown as Record<symbol, { handle?: { recvStop?: () => number; recvStart?: () => number } }>)[
        stateKey
      ]?.handle
    : undefined;
  if (typeof handle?.recvStop !== "function" || typeof handle.recvStart !== "function") return undefined;
  const h = handle as { recvStop: () => number; recvStart: () => number };
  let inTurn = 0;
  let checking = false;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const check = (): void => {
    checking = false;
    const n = inTurn;
    inTurn = 0;
    if (n >= 32 || stopped) return; // more may wait: keep reading
    h.recvStop();
    timer = setTimeout(() => {
      timer = undefined;
      if (!stopped) h.recvStart();
    }, pauseMs);
  };
  return {
    onDatagram() {
      inTurn++;
      if (!checking) {
        checking = true;
        setImmediate(check);
      }
    },
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
    },
  };
}
