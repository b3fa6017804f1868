"""Bot load: N simulated users each send Q questions at once; every reply checked, latency measured.

The real bot (``bot.app.build_application``: per-chat ordering, worker pool, flood limiter,
retries) long-polls the fake Bot API server (``tests/botapi_server.py``) in this process. All
N×Q questions are injected at once (interleaved across users); then for every chat we check
that each question got exactly one answer, in the order asked, with the expected content
(the answer the engine gives for that question, rendered), and measure the latency from
injection to the last message of the answer.

    python benchmarks/bench_bot_load.py                 # real engine over the seeds
    python benchmarks/bench_bot_load.py --fake          # canned answers: the bot's own overhead
    python benchmarks/bench_bot_load.py --no-flood-limits   # without Telegram's 30 msg/s cap

Telegram allows a bot about 30 messages a second overall; the bot's limiter keeps to that by
default, which bounds throughput to ~30 answers/s however fast the engine is.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from html.parser import HTMLParser
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import emit, pct, questions, row  # noqa: E402

from bot.app import ALLOWED_UPDATES, build_application  # noqa: E402
from bot.render import render_answer  # noqa: E402
from qa.types import Answer, Citation  # noqa: E402
from tests.botapi_server import BotAPIServer  # noqa: E402

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0"
BENCH = "bot_load"


class FakeEngine:
    """Instant canned answers that name the question (so the content check is exact)."""

    version = "fake"

    def reload_if_changed(self) -> bool:
        return False

    def ask(self, question: str) -> Answer:
        c = Citation(rank=1, doc_id="d", chunk_id="d#0", score=1.0, text="passage", title="Title", source="Kyodo",
                     date="2019-01-14", path=None, start=0, end=7, n=1)
        return Answer(question=question, answer=f"Answer to: {question} [1]", abstained=False, citations=[c])


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def plain(html: str) -> str:
    p = _Text()
    p.feed(html)
    p.close()
    return "".join(p.parts)


def open_engine(fake: bool):
    if fake:
        return FakeEngine()
    from qa.search.engine import Engine

    idx = Path(tempfile.mkdtemp(prefix="qa-bot-load-")) / "idx"
    t = time.perf_counter()
    engine = Engine.open(idx, notify=lambda m: print(m, file=sys.stderr))
    engine.warm_up()
    print(f"index built and engine warm in {time.perf_counter() - t:.1f} s", file=sys.stderr)
    return engine


async def run_load(engine, users: int, per_user: int, workers: int, flood_limits: bool, timeout: float) -> dict:
    pool = questions()
    asked = {u: [pool[(u * per_user + j) % len(pool)] for j in range(per_user)] for u in range(users)}
    # the expected reply for each distinct question (also warms every code path)
    t = time.perf_counter()
    expected = {q: [plain(c) for c in render_answer(engine.ask(q))] for q in {q for qs in asked.values() for q in qs}}
    engine_s = (time.perf_counter() - t) / len(expected)

    with BotAPIServer(token=TOKEN, max_poll_timeout=2) as server:
        app = build_application(engine, TOKEN, base_url=server.base_url, workers=workers, flood_limits=flood_limits,
                                feedback_db=Path(tempfile.mkdtemp()) / "feedback.sqlite")
        await app.initialize()
        await app.post_init(app)
        await app.updater.start_polling(allowed_updates=ALLOWED_UPDATES, timeout=2)
        await app.start()
        try:
            chat = {u: 10_000 + u for u in range(users)}
            injected: dict[int, list[tuple[int, float]]] = {chat[u]: [] for u in range(users)}
            t0 = time.monotonic()
            for j in range(per_user):  # everyone at once, interleaved
                for u in range(users):
                    server.inject_text(chat[u], asked[u][j])
                    injected[chat[u]].append((server.last_injected_message["message_id"], time.monotonic()))
            total = users * per_user

            def done() -> bool:
                n = sum(1 for m in server.sent if (m.params.get("reply_markup") or {}).get("inline_keyboard"))
                return n >= total

            await server.async_wait_for(done, timeout=timeout, message=f"{total} answers")
            wall = time.monotonic() - t0
            await asyncio.sleep(0.5)  # anything extra (a duplicate) would show up now
        finally:
            await app.updater.stop()
            await app.stop()
            await app.shutdown()
            await app.post_shutdown(app)

        latencies: list[float] = []
        problems: list[str] = []
        for u in range(users):
            cid = chat[u]
            msgs = server.messages(cid)
            replies: list[list] = []  # one list of messages per answer
            for m in msgs:
                if "reply_to_message" in m.result or not replies:
                    replies.append([])
                replies[-1].append(m)
            if len(replies) != per_user:
                problems.append(f"chat {cid}: {len(replies)} answers for {per_user} questions")
                continue
            for (qid, t_in), q, reply in zip(injected[cid], asked[u], replies):
                got = reply[0].result["reply_to_message"]["message_id"]
                if got != qid:
                    problems.append(f"chat {cid}: answer out of order (reply to {got}, expected {qid})")
                if [m.result["text"] for m in reply] != expected[q]:
                    problems.append(f"chat {cid}: wrong content for {q!r}")
                if not (reply[-1].params.get("reply_markup") or {}).get("inline_keyboard"):
                    problems.append(f"chat {cid}: incomplete answer to {q!r}")
                latencies.append(reply[-1].at - t_in)
        calls = len([c for c in server.calls if c.method != "getUpdates"])
    return {"total": total, "answered": len(latencies), "problems": problems, "latencies": latencies,
            "wall": wall, "engine_s": engine_s, "calls": calls, "distinct": len(expected)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, default=50)
    ap.add_argument("--questions", type=int, default=5, help="questions per user")
    ap.add_argument("--workers", type=int, default=2, help="engine threads (QA_BOT_WORKERS)")
    ap.add_argument("--fake", action="store_true", help="canned answers instead of the real engine")
    ap.add_argument("--no-flood-limits", action="store_true", help="don't cap sends at Telegram's 30 msg/s")
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    engine = open_engine(args.fake)
    r = asyncio.run(run_load(engine, args.users, args.questions, args.workers, not args.no_flood_limits,
                             args.timeout))
    lat = r["latencies"]
    what = ("fake engine" if args.fake else "real engine, seeds") + \
        (", no flood limits" if args.no_flood_limits else ", 30 msg/s flood limit")
    ok = not r["problems"] and r["answered"] == r["total"]
    rows = [
        row(BENCH, "questions", r["total"], note=f"{args.users} users × {args.questions}, sent at once; {what}"),
        row(BENCH, "answered exactly once, in order, right content", r["answered"] if ok else len(r["problems"]),
            target=str(r["total"]), ok=ok, note="; ".join(r["problems"][:3])),
        row(BENCH, "reply latency p50", pct(lat, 50), "s"),
        row(BENCH, "reply latency p95", pct(lat, 95), "s"),
        row(BENCH, "reply latency max", max(lat), "s"),
        row(BENCH, "reply latency mean", statistics.mean(lat), "s"),
        row(BENCH, "throughput", r["answered"] / r["wall"], "answers/s", note=f"{r['wall']:.1f} s for all"),
        row(BENCH, "engine time per question", r["engine_s"] * 1000, "ms",
            note=f"sequential, {r['distinct']} distinct questions; {args.workers} worker thread(s) in the bot"),
        row(BENCH, "Bot API calls", r["calls"], note="sendMessage + sendChatAction + getMe/setMyCommands/..."),
    ]
    emit(rows, args.json, f"Telegram bot under load ({what})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
