"""The measurements behind mintlab's estimator choice (docs/estimator.md). Prints figures.

Sections (pick with ``--sections``):

* ``synthetic``: MLP shapes — X = 3 child units, Y = 2 parents, Z = the other 498 parents
  (ReLU-like, correlated through a latent factor). The child is linear in the parents, as the
  pipeline records it (pre-activation). Cases: Y's part is a given share of X's variance
  (50 % … 0.4 %, about what one parent of 500 carries, or 0: X ⟂ Y | Z). Reports mean ± sd over seeds for every
  estimator and bootstrap, and the donor reuse of the bootstrap (hubness).
* ``blocks``: tiny MLPs trained with a random half of their fc2 blocks held at zero: how well
  each estimator's scores tell the live blocks from the dead ones (AUC).
* ``mlp``: an MLP trained 3 epochs on Fashion-MNIST (fc1 → fc2): score the pair with each
  estimator, zero the lowest-scored blocks at several sparsities and report test accuracy
  without retraining (and with ``--retrain`` after one short fine-tuning pass), against
  magnitude, the blocks' variance share and random scores at the same sparsity.

Usage::

    .venv/bin/python benchmarks/measure_estimators.py --sections synthetic --n 2400 --seeds 5
    .venv/bin/python benchmarks/measure_estimators.py --sections blocks
    .venv/bin/python benchmarks/measure_estimators.py --sections mlp --per-class 150 --retrain
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from mintlab.estimator.gmi import ESTIMATORS, conditional_gmi, nn_donors, split_rows
from mintlab.estimator.toy import planted_block_mlp

#: Share of the child's variance that comes from Y (a typical single parent of 500: ~0.2 %).
CASES = {"50%": 0.5, "10%": 0.1, "2%": 0.02, "0.4%": 0.004, "zero": 0.0}


def mlp_shaped(n: int, case: str, seed: int, n_parents: int = 500, dx: int = 3, dy: int = 2):
    """Parents ``(n, n_parents)`` (ReLU of a 20-factor model), child ``(n, dx)`` linear in them."""
    rng = np.random.default_rng(seed)
    h = rng.normal(size=(n, 20))
    a = rng.normal(size=(20, n_parents)) / np.sqrt(20)
    p = np.maximum(h @ a + 0.7 * rng.normal(size=(n, n_parents)) - 0.3, 0.0)
    w = rng.normal(size=(dx, n_parents)) / np.sqrt(n_parents)
    share = CASES[case]
    rest = (p[:, dy:] @ w[:, dy:].T).var(axis=0).sum()
    own = (p[:, :dy] @ w[:, :dy].T).var(axis=0).sum()
    w[:, :dy] *= np.sqrt(share / (1 - share) * rest / own)  # Y's part: `share` of X's variance
    x = p @ w.T  # pre-activation, as the pipeline records the child: exactly linear
    return x, p[:, :dy], p[:, dy:], w[:, dy:]


def hubness(z: np.ndarray, seed: int, reuse: bool) -> tuple[int, float]:
    """Largest number of receivers one donor serves, and the fraction of donors never used."""
    s = split_rows(len(z), seed)
    donors = nn_donors(z[s.a], z[s.b], s.starts, reuse=reuse)
    counts = np.bincount(donors, minlength=len(s.b))
    return int(counts.max()), float((counts == 0).mean())


def synthetic(n: int, seeds: int) -> None:
    print(f"\n== synthetic MLP shapes: X 3, Y 2, Z 498 (ReLU-like), n = {n}, {seeds} seeds ==")
    variants = [(e, b) for e in ESTIMATORS for b in ("nn", "nn_unique")]  # every combination here
    data = {case: [mlp_shaped(n, case, s) for s in range(seeds)] for case in CASES}
    print(f"{'estimator':>10} {'bootstrap':>10} " + " ".join(f"{c:>15}" for c in CASES) + "  separation  s/call")
    for est, boot in variants:
        row, means, sds = [], {}, {}
        t0 = time.perf_counter()
        for case, runs in data.items():
            vals = [
                conditional_gmi(
                    x, y, z, seed=s, estimator=est, bootstrap=boot, weight=w if est == "projected" else None
                )
                for s, (x, y, z, w) in enumerate(runs)
            ]
            means[case], sds[case] = float(np.mean(vals)), float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0
            row.append(f"{means[case]:7.3f} ± {sds[case]:5.3f}")
        dt = (time.perf_counter() - t0) / (len(CASES) * seeds)
        sep = (means["2%"] - means["zero"]) / max(np.hypot(sds["2%"], sds["zero"]), 1e-9)
        print(f"{est:>10} {boot:>10} " + " ".join(f"{r:>15}" for r in row) + f"  {sep:9.1f}  {dt:6.2f}")
    print("separation = (2% − zero) / sqrt(sd_2%² + sd_zero²)")
    print("\nhubness of the bootstrap (case 'zero', seed 0): max receivers per donor, donors unused")
    x, y, z, w = data["zero"][0]
    for name, zz in (("Z raw (498 dims)", z), ("Z projected (3 dims)", z @ w.T)):
        for reuse in (True, False):
            mx, unused = hubness(zz, 0, reuse)
            print(f"  {name:>22} {'nn' if reuse else 'nn_unique':>10}: max {mx:4d}, unused {unused:5.1%}")


VARIANTS = (
    ("paper", "nn"),
    ("paper", "nn_unique"),
    ("scaled", "nn"),
    ("scaled", "nn_unique"),
    ("pca", "nn_unique"),
    ("projected", "nn"),
    ("projected", "nn_unique"),
)


def _block_sums(values: np.ndarray, cl: np.ndarray, pl: np.ndarray) -> np.ndarray:
    out = np.zeros((cl.max() + 1, pl.max() + 1))
    np.add.at(out, (cl[:, None], pl[None, :]), values)
    return out


def blocks(nets: int = 3) -> None:
    from scipy.stats import mannwhitneyu

    from mintlab.estimator.layer_pair import score_layer_pair

    print("\n== known dead blocks: tiny MLPs (20-32-16-4) trained with half of the fc2 blocks held at 0 ==")
    print("AUC of 'live block' vs 'dead block' scores (0.5 = random ranking; sd ≈ 0.07 for 32 + 32 blocks)")
    settings = [(gp, gc, n) for gp, gc in ((16, 4), (8, 4)) for n in (1500, 3000)]
    print(f"{'estimator':>10} {'bootstrap':>10} " + " ".join(f"{f'G {gp}/{gc} n {n}':>16}" for gp, gc, n in settings))
    nets_data = {st: [planted_block_mlp(st[0], st[1], n=st[2], seed=seed) for seed in range(nets)] for st in settings}
    for est, boot in VARIANTS:
        cells = []
        for (gp, gc, _n), runs in nets_data.items():
            aucs = []
            for w, parent, child, live in runs:
                sc = score_layer_pair(parent, child, gp, gc, seed=0, estimator=est, weight=w, bootstrap=boot)
                aucs.append(mannwhitneyu(sc[live], sc[~live]).statistic / (live.sum() * (~live).sum()))
            cells.append(f"{min(aucs):.2f}–{max(aucs):.2f}")
        print(f"{est:>10} {boot:>10} " + " ".join(f"{c:>16}" for c in cells))


def _trained_mlp(cache: Path, epochs: int = 3, seed: int = 0):
    import torch

    from mintlab.nets.data import load_dataset
    from mintlab.nets.models import MLP

    torch.manual_seed(seed)
    model = MLP()
    if cache.is_file():
        model.load_state_dict(torch.load(cache))
        return model.eval()
    train = load_dataset("fashion_mnist", "train")
    loader = torch.utils.data.DataLoader(train, batch_size=128, shuffle=True)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    for _ in range(epochs):
        for xb, yb in loader:
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(xb), yb).backward()
            opt.step()
    tmp = cache.with_suffix(".tmp")
    torch.save(model.state_dict(), tmp)
    tmp.replace(cache)
    return model.eval()


def _accuracy(model, weight_mask, xs, ys) -> float:
    import torch

    with torch.no_grad():
        w = model.fc2.weight.clone()
        model.fc2.weight.mul_(torch.as_tensor(weight_mask, dtype=w.dtype))
        acc = (model(xs).argmax(1) == ys).double().mean().item() * 100
        model.fc2.weight.copy_(w)
    return acc


def _retrained_accuracy(cache: Path, weight_mask, xs, ys, xt, yt) -> float:
    """One pass of Adam over ``xt`` with the mask held, then test accuracy."""
    import torch

    model = _trained_mlp(cache)
    mask = torch.as_tensor(weight_mask, dtype=torch.float32)
    with torch.no_grad():
        model.fc2.weight.mul_(mask)
    opt = torch.optim.Adam(model.parameters(), lr=5e-4)
    model.train()
    torch.manual_seed(0)
    for s in range(0, len(xt), 128):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(xt[s : s + 128]), yt[s : s + 128]).backward()
        opt.step()
        with torch.no_grad():
            model.fc2.weight.mul_(mask)
    model.eval()
    with torch.no_grad():
        return (model(xs).argmax(1) == ys).double().mean().item() * 100


def mlp(per_class: int, gp: int, gc: int, cache: Path, retrain: bool, seed: int = 0) -> None:
    import torch
    from scipy.stats import spearmanr

    from mintlab.estimator.layer_pair import group_labels, score_layer_pair
    from mintlab.nets.data import load_dataset
    from mintlab.prune.activations import collect_activations

    model = _trained_mlp(cache)
    test = load_dataset("fashion_mnist", "test")
    xs = torch.stack([test[i][0] for i in range(len(test))])
    ys = torch.tensor([test[i][1] for i in range(len(test))])
    base_acc = _accuracy(model, np.ones(model.fc2.weight.shape), xs, ys)
    train = load_dataset("fashion_mnist", "train")
    acts = collect_activations(model, train, [("fc1", "fc2")], samples_per_class=per_class, seed=seed, progress=False)
    parent, child = acts.parent[("fc1", "fc2")], acts.child[("fc1", "fc2")]
    weight = model.fc2.weight.detach().double().numpy()
    pl, cl = group_labels(weight.shape[1], gp), group_labels(weight.shape[0], gc)
    print(
        f"\n== trained MLP (Fashion-MNIST, test acc {base_acc:.2f} %), fc1→fc2, n = {len(parent)}, "
        f"groups {gp} parent / {gc} child =="
    )
    scores = {}
    for est, boot in VARIANTS:
        t0 = time.perf_counter()
        scores[f"{est}/{boot}"] = score_layer_pair(
            parent, child, gp, gc, seed=seed, estimator=est, weight=weight, bootstrap=boot
        )
        print(f"  scored {est}/{boot} in {time.perf_counter() - t0:.1f} s")
    scores["magnitude"] = _block_sums(np.abs(weight), cl, pl)
    share = _block_sums(weight**2 * parent.var(axis=0)[None, :], cl, pl)
    scores["variance share"] = share
    rng = np.random.default_rng(seed)

    def mask(sc: np.ndarray, sp: float) -> np.ndarray:
        keep = np.ones(sc.size, bool)
        keep[np.argsort(sc.ravel(), kind="stable")[: int(round(sp * sc.size))]] = False
        return keep.reshape(sc.shape)[cl][:, pl]

    sparsities = (0.5, 0.7, 0.8, 0.9, 0.95)
    print("test accuracy after zeroing the lowest-scored blocks, no retraining; Spearman ρ with the variance share")
    print(f"{'scores':>22} " + " ".join(f"{s:>7.0%}" for s in sparsities) + "   ρ(share)")
    for name, s in list(scores.items()) + [("random (mean of 5)", None)]:
        accs = []
        for sp in sparsities:
            reps = [rng.random((gc, gp)) for _ in range(5)] if s is None else [s]
            accs.append(np.mean([_accuracy(model, mask(r, sp), xs, ys) for r in reps]))
        corr = "" if s is None else f"{spearmanr(s.ravel(), share.ravel())[0]:+.2f}"
        print(f"{name:>22} " + " ".join(f"{a:7.2f}" for a in accs) + f"   {corr}")
    if not retrain:
        return
    sub = torch.randperm(len(train), generator=torch.Generator().manual_seed(0))[:20000]
    xt = torch.stack([train[int(i)][0] for i in sub])
    yt = torch.tensor([train[int(i)][1] for i in sub])
    print("test accuracy after one pass of Adam over 20k training images with the mask held")
    print(f"{'scores':>22} " + " ".join(f"{s:>7.0%}" for s in (0.9, 0.97)))
    for name, s in list(scores.items()) + [("random (mean of 3)", None)]:
        accs = []
        for sp in (0.9, 0.97):
            reps = [rng.random((gc, gp)) for _ in range(3)] if s is None else [s]
            accs.append(np.mean([_retrained_accuracy(cache, mask(r, sp), xs, ys, xt, yt) for r in reps]))
        print(f"{name:>22} " + " ".join(f"{a:7.2f}" for a in accs))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--sections", nargs="+", default=["synthetic", "blocks", "mlp"], choices=["synthetic", "blocks", "mlp"]
    )
    ap.add_argument("--n", type=int, default=2400, help="samples for the synthetic section")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--per-class", type=int, default=150, help="samples per class for the MLP section")
    ap.add_argument("--groups", type=int, nargs=2, default=[100, 30], metavar=("G_PARENT", "G_CHILD"))
    ap.add_argument("--cache", type=Path, default=Path("/tmp/mintlab_measure_mlp.pt"))
    ap.add_argument("--retrain", action="store_true", help="also fine-tune once per mask (minutes)")
    ap.add_argument("--nets", type=int, default=3, help="tiny MLPs per setting in the blocks section")
    args = ap.parse_args()
    if "synthetic" in args.sections:
        synthetic(args.n, args.seeds)
    if "blocks" in args.sections:
        blocks(args.nets)
    if "mlp" in args.sections:
        mlp(args.per_class, args.groups[0], args.groups[1], args.cache, args.retrain)


if __name__ == "__main__":
    main()
