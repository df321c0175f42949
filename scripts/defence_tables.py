#!/usr/bin/env python3
"""Tables of docs/defences.md from a segmentation run folder (records.jsonl), standard library
only: mean tumour Dice per model under chosen attacks (per case the mean over the labels its
truth or prediction has, then the mean over cases), and the robust Dice (per case the worst
over the untargeted attacks, then the mean). Training seconds from models/*/model.json.

    python3 scripts/defence_tables.py RUN_DIR [attack@eps ...]
"""
import json
import pathlib
import sys
from collections import defaultdict


def case_mean(d):
    v = [x for x in d if x is not None]
    return sum(v) / len(v) if v else None


def main():
    run = pathlib.Path(sys.argv[1])
    cols = sys.argv[2:] or ["fgsm@0.04", "i-fgsm@0.02", "i-fgsm@0.04", "i-fgsm@0.08"]
    recs = [json.loads(l) for l in open(run / "records.jsonl")]
    models = list(dict.fromkeys(r["model"] for r in recs))
    by = defaultdict(dict)  # (model, attack, eps) -> case -> adv mean dice
    clean = defaultdict(dict)
    for r in recs:
        by[(r["model"], r["attack"], r["epsilon"])][r["case"]] = case_mean(r["adv_dice"])
        clean[r["model"]][r["case"]] = case_mean(r["clean_dice"])

    def mean(vals):
        v = [x for x in vals if x is not None]
        return sum(v) / len(v) if v else float("nan")

    secs = {}
    for m in models:
        p = run / "models" / m / "model.json"
        if p.exists():
            secs[m] = json.load(open(p)).get("training", {}).get("seconds")
    print("| model | train s | clean | " + " | ".join(c.replace("@", " ") for c in cols) + " |")
    print("|---" * (len(cols) + 3) + "|")
    for m in models:
        row = [m, f"{secs.get(m)}", f"{mean(clean[m].values()):.3f}"]
        for c in cols:
            a, e = c.split("@")
            row.append(f"{mean(by[(m, a, float(e))].values()):.3f}")
        print("| " + " | ".join(row) + " |")
    untargeted = sorted({r["attack"] for r in recs if r["goal"] == "untargeted"})
    eps = sorted({r["epsilon"] for r in recs})
    print()
    print(f"robust Dice (worst of {', '.join(untargeted)} per case):")
    print("| model | " + " | ".join(f"ε = {e:g}" for e in eps) + " |")
    print("|---" * (len(eps) + 1) + "|")
    for m in models:
        row = [m]
        for e in eps:
            worst = []
            for case in clean[m]:
                v = [by[(m, a, e)].get(case) for a in untargeted]
                v = [x for x in v if x is not None]
                worst.append(min(v) if v else None)
            row.append(f"{mean(worst):.3f}")
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
