#!/usr/bin/env python3
"""Reference values for the Fairness module, computed with scikit-learn, fairlearn, scipy and numpy.

Run from anywhere:  python3 Tests/Fixtures/metrics/make_metrics_fixtures.py
Writes (next to this script):
  classification.json  random single-label cases WITH TIES in scores, sklearn/fairlearn values
  multilabel.json      masked per-condition AUC, AUC parity between sex groups, and the multi-label
                       by_group tables (sex, race with missing values) with per-condition AUC per group
  mannwhitney.json     scipy.stats.mannwhitneyu(method="asymptotic", use_continuity=True) with ties
  posterior.json       exact Beta(1,1) group-vs-outgroup posteriors (scipy: mean, std, 2.5/97.5 % quantiles
                       by numerical convolution) for groups with unequal top-3 hits, missing values excluded
  mmd.json             unbiased MMD² with sklearn's polynomial_kernel(degree=3, gamma=1/d, coef0=1)
  pca.json             float32 features, numpy covariance eigenvalues and 90 % component counts
  predictions_small.csv + predictions_small_expected.json   the CLI end-to-end case
and validates a sample of both metrics forms against docs/metrics.schema.json with `jsonschema`.
Only needed to regenerate fixtures; the Swift tests never run Python.
"""
import json
import os
import warnings

import numpy as np
from fairlearn.metrics import MetricFrame
from scipy import integrate, optimize
from scipy.stats import beta as beta_dist
from scipy.stats import mannwhitneyu
from sklearn.metrics import (accuracy_score, balanced_accuracy_score, precision_recall_fscore_support,
                             roc_auc_score, top_k_accuracy_score)
from sklearn.metrics.pairwise import polynomial_kernel

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
warnings.filterwarnings("ignore")


def auc_or_none(y, s):
    if y.min() == y.max():
        return None
    return float(roc_auc_score(y, s))


def per_class_auc(labels, scores):
    return [auc_or_none((labels == c).astype(int), scores[:, c]) for c in range(scores.shape[1])]


def mean_defined(vals):
    d = [v for v in vals if v is not None]
    return float(np.mean(d)) if d else None


def top3(labels, scores):
    C = scores.shape[1]
    return float(top_k_accuracy_score(labels, scores, k=3, labels=np.arange(C)))


def high_risk(labels, pred, risky):
    sel = np.isin(labels, list(risky))
    if not sel.any():
        return None
    return float(np.mean(pred[sel] == labels[sel]))


def group_metrics(labels, scores, pred, risky):
    if len(labels) == 0:
        return dict(n=0, accuracy=None, balanced_accuracy=None, auc_macro=None, top3_accuracy=None,
                    high_risk_sensitivity=None)
    return dict(n=int(len(labels)), accuracy=float(accuracy_score(labels, pred)),
                balanced_accuracy=float(balanced_accuracy_score(labels, pred)),
                auc_macro=mean_defined(per_class_auc(labels, scores)), top3_accuracy=top3(labels, scores),
                high_risk_sensitivity=high_risk(labels, pred, risky))


def spread(vals):
    d = [v for v in vals if v is not None]
    if not d:
        return None, None
    hi, lo = max(d), min(d)
    return hi - lo, (lo / hi if hi != 0 else None)


def evaluate(labels, scores, attrs, risky, classes):
    pred = np.argmax(scores, axis=1)  # ties -> first class
    prec, rec, f1, _ = precision_recall_fscore_support(labels, pred, average="macro", zero_division=0)
    pcs = per_class_auc(labels, scores)
    out = dict(n=int(len(labels)), accuracy=float(accuracy_score(labels, pred)), top3_accuracy=top3(labels, scores),
               balanced_accuracy=float(balanced_accuracy_score(labels, pred)),
               precision_macro=float(prec), recall_macro=float(rec), f1_macro=float(f1),
               auc=dict(per_class={c: v for c, v in zip(classes, pcs)}, macro=mean_defined(pcs)),
               high_risk_sensitivity=high_risk(labels, pred, risky), by_group={})
    extra = dict(precision_macro=float(prec), recall_macro=float(rec), f1_macro=float(f1), fairlearn={})
    for name, col in attrs.items():
        col = np.asarray(col)
        values = sorted(set(col.tolist()))
        table = {v: group_metrics(labels[col == v], scores[col == v], pred[col == v], risky) for v in values}
        gap, ratio = {}, {}
        for key in ["accuracy", "balanced_accuracy", "auc_macro", "top3_accuracy", "high_risk_sensitivity"]:
            gap[key], ratio[key] = spread([table[v][key] for v in values])
        out["by_group"][name] = dict(values=table, gap=gap, ratio=ratio)
        mf = MetricFrame(metrics={"accuracy": accuracy_score, "balanced_accuracy": balanced_accuracy_score},
                         y_true=labels, y_pred=pred, sensitive_features=col)
        diff, rat = mf.difference(), mf.ratio()
        extra["fairlearn"][name] = {k: dict(difference=float(diff[k]), ratio=float(rat[k]))
                                    for k in ["accuracy", "balanced_accuracy"]}
    return out, extra


def classification_cases():
    cases = []
    specs = [  # (seed, n, C, decimals, absent class, group sizes skew)
        (1, 240, 5, 1, None), (2, 300, 7, 1, 3), (3, 150, 3, 1, None), (4, 400, 6, 2, None), (5, 90, 4, 0, 1),
    ]
    for seed, n, C, dec, absent in specs:
        rng = np.random.default_rng(seed)
        labels = rng.integers(0, C, n)
        if absent is not None:
            labels[labels == absent] = (absent + 1) % C
        logits = rng.normal(size=(n, C)) + 1.2 * np.eye(C)[labels]
        p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
        scores = np.round(p, dec)  # many exact ties (dec = 0 gives mostly 0/1 scores)
        sex = rng.choice(["F", "M"], n)
        tone = rng.choice(["I", "II", "III", "IV", "V", "VI"], n, p=[.3, .3, .2, .12, .06, .02])
        risky = [0, C - 1]
        classes = [f"c{i}" for i in range(C)]
        expected, extra = evaluate(labels, scores, {"sex": sex, "tone": tone}, risky, classes)
        cases.append(dict(seed=seed, classes=classes, labels=labels.tolist(), scores=scores.ravel().tolist(),
                          high_risk=risky, attributes={"sex": sex.tolist(), "tone": tone.tolist()},
                          expected=expected, extra=extra))
    return cases


def multilabel_case():
    rng = np.random.default_rng(11)
    n, K = 200, 4
    targets = (rng.random((n, K)) < 0.3).astype(int)
    mask = rng.random((n, K)) > 0.15
    targets[:, 3] = 0  # condition 3: no positives -> undefined AUC
    scores = np.round(rng.random((n, K)) * 0.6 + 0.4 * targets, 1)
    sex = rng.choice(["F", "M"], n)
    per = []
    parity = []
    for k in range(K):
        m = mask[:, k]
        per.append(auc_or_none(targets[m, k], scores[m, k]))
        groups = {}
        for g in ["F", "M"]:
            sel = m & (sex == g)
            groups[g] = auc_or_none(targets[sel, k], scores[sel, k])
        d = [v for v in groups.values() if v is not None]
        parity.append(dict(groups=groups, gap=(max(d) - min(d)) if d else None))
    # A second attribute with three values and missing entries (None): the by_group tables of both.
    race = rng.choice(["asian", "black", "white"], n, p=[.2, .3, .5]).astype(object)
    race[rng.random(n) < 0.1] = None
    conditions = [f"cond{k}" for k in range(K)]
    by_group, parity_all = {}, {}
    for name, col in [("sex", sex.astype(object)), ("race", race)]:
        by_group[name], parity_all[name] = multilabel_table(col, targets, mask, scores, conditions)
    return dict(targets=targets.ravel().tolist(), mask=mask.ravel().tolist(), scores=scores.ravel().tolist(),
                rows=n, conditions=K, sex=sex.tolist(), per_condition=per, macro=mean_defined(per), parity=parity,
                race=race.tolist(), by_group=by_group, auc_parity=parity_all)


def multilabel_table(col, targets, mask, scores, conditions):
    """by_group table of one attribute for multi-label data (missing values: their own entry, no group)."""
    def group(sel):
        per = {}
        for k, c in enumerate(conditions):
            m = sel & mask[:, k]
            per[c] = auc_or_none(targets[m, k], scores[m, k])
        return dict(n=int(sel.sum()), accuracy=None, balanced_accuracy=None, auc_macro=mean_defined(list(per.values())),
                    top3_accuracy=None, high_risk_sensitivity=None, auc_per_class=per)
    values = sorted({v for v in col if v is not None})
    table = {v: group(np.array([x == v for x in col])) for v in values}
    gap, ratio = {}, {}
    for key in ["accuracy", "balanced_accuracy", "top3_accuracy", "high_risk_sensitivity"]:
        gap[key], ratio[key] = None, None
    gap["auc_macro"], ratio["auc_macro"] = spread([table[v]["auc_macro"] for v in values])
    gap["auc_per_class"], ratio["auc_per_class"] = {}, {}
    parity = {}
    for c in conditions:
        g, r = spread([table[v]["auc_per_class"][c] for v in values])
        gap["auc_per_class"][c], ratio["auc_per_class"][c] = g, r
        parity[c] = dict(groups={v: table[v]["auc_per_class"][c] for v in values}, gap=g)
    out = dict(values=table, gap=gap, ratio=ratio)
    missing = np.array([x is None for x in col])
    if missing.any():
        out["missing_attribute"] = group(missing)
    return out, parity


def posterior_summary(kg, mg, ko, mo):
    """Exact summary of p_group − p_outgroup, p ~ Beta(1 + hits, 1 + misses) on each side."""
    P, Q = beta_dist(1 + kg, 1 + mg - kg), beta_dist(1 + ko, 1 + mo - ko)
    mean = P.mean() - Q.mean()
    std = float(np.sqrt(P.var() + Q.var()))

    def cdf(t):  # P(P − Q ≤ t) = ∫ f_Q(q) F_P(t + q) dq
        return integrate.quad(lambda q: Q.pdf(q) * P.cdf(min(max(t + q, 0.0), 1.0)), 0, 1, limit=200,
                              epsabs=1e-13, epsrel=1e-12)[0]

    def pdf(t):
        return integrate.quad(lambda q: Q.pdf(q) * P.pdf(t + q) if 0 <= t + q <= 1 else 0.0, 0, 1, limit=200)[0]
    out = dict(group_hits=int(kg), group_count=int(mg), outgroup_hits=int(ko), outgroup_count=int(mo),
               mean=float(mean), std=std)
    for name, q in [("lower", 0.025), ("upper", 0.975)]:
        x = optimize.brentq(lambda t: cdf(t) - q, -1, 1, xtol=1e-12)
        out[name] = float(x)
        out["density_" + name] = float(pdf(x))
    # Fourth central moment of P − Q (independent): for the Monte Carlo standard error of the sample std.
    def central4(d):
        m = d.mean()
        return d.expect(lambda x: (x - m) ** 4)
    out["central_moment4"] = float(central4(P) + central4(Q) + 6 * P.var() * Q.var())
    return out


def posterior_cases():
    """Top-3 hits of 6-class scores (no ties) in three groups plus rows with a missing attribute; and two
    direct cases with very unequal, skewed posteriors."""
    rng = np.random.default_rng(77)
    n, C = 500, 6
    labels = rng.integers(0, C, n)
    group = rng.choice(["A", "B", "C"], n, p=[.5, .35, .15]).astype(object)
    boost = np.where(group == "A", 2.0, np.where(group == "B", 0.6, -0.4))   # unequal accuracy by group
    logits = rng.normal(size=(n, C)) + boost[:, None] * np.eye(C)[labels]
    scores = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    group[rng.random(n) < 0.08] = None
    ahead = (scores > scores[np.arange(n), labels][:, None]).sum(1)
    hits = ahead < 3
    assert float(np.mean(hits)) == top_k_accuracy_score(labels, scores, k=3, labels=np.arange(C))
    known = np.array([g is not None for g in group])
    values = {}
    for v in ["A", "B", "C"]:
        sel = np.array([g == v for g in group])
        out = known & ~sel
        values[v] = posterior_summary(hits[sel].sum(), sel.sum(), hits[out].sum(), out.sum())
    direct = [posterior_summary(3, 20, 150, 200), posterior_summary(45, 50, 20, 60)]
    return dict(classes=C, labels=labels.tolist(), scores=scores.ravel().tolist(), groups=group.tolist(),
                values=values, direct=direct)


def mmd_cases():
    """Features k/64 (|k| ≤ 128, d ≤ 16): every Float32 dot product is exact, so BLAS and sklearn agree to
    Double rounding of the kernel sums."""
    out = []
    for seed, m, n, d, shift in [(1, 40, 50, 16, 0.0), (2, 30, 30, 8, 0.4), (3, 25, 60, 12, -0.2)]:
        rng = np.random.default_rng(seed)
        x = np.clip(np.round(rng.normal(size=(m, d)) * 32), -128, 128) / 64
        y = np.clip(np.round((rng.normal(size=(n, d)) + shift) * 32), -128, 128) / 64
        kern = lambda a, b: polynomial_kernel(a, b, degree=3, gamma=1.0 / d, coef0=1)
        kxx, kyy, kxy = kern(x, x), kern(y, y), kern(x, y)
        mmd2 = ((kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
                - 2 * kxy.mean())
        out.append(dict(rows_x=m, rows_y=n, dim=d, x=x.ravel().tolist(), y=y.ravel().tolist(), mmd2=float(mmd2)))
    return out


def mannwhitney_cases():
    out = []
    for seed, n1, n2, shift, dec in [(1, 30, 30, 0.0, 1), (2, 30, 30, 0.5, 1), (3, 17, 25, 0.2, 0),
                                     (4, 30, 30, 2.0, 2), (5, 8, 40, -0.3, 1)]:
        rng = np.random.default_rng(seed)
        x = np.round(rng.normal(size=n1), dec)
        y = np.round(rng.normal(size=n2) + shift, dec)
        r = mannwhitneyu(x, y, method="asymptotic", use_continuity=True, alternative="two-sided")
        out.append(dict(x=x.tolist(), y=y.tolist(), u=float(r.statistic), p=float(r.pvalue)))
    return out


def pca_cases():
    out = []
    for seed, n, d in [(1, 120, 24), (2, 40, 64), (3, 150, 40)]:
        rng = np.random.default_rng(seed)
        scales = np.exp(-np.arange(d) / 5.0)
        x = (rng.normal(size=(n, d)) * scales) @ np.linalg.qr(rng.normal(size=(d, d)))[0]
        q = np.round(x * 1024).astype(np.int64)  # features k/1024: exact in Float32 and compact in JSON
        xd = q.astype(np.float64) / 1024
        xc = xd - xd.mean(0)
        ev = np.sort(np.linalg.eigvalsh(xc.T @ xc))[::-1]
        ev = np.clip(ev, 0, None)
        frac = np.cumsum(ev) / ev.sum()
        counts = {str(f): int(np.argmax(frac >= f) + 1) for f in [0.5, 0.8, 0.9, 0.95]}
        out.append(dict(rows=n, dim=d, quantized=q.ravel().tolist(), scale=1024,
                        eigenvalues=ev[:min(n, d)].tolist(), counts=counts))
    return out


def cli_case():
    rng = np.random.default_rng(2024)
    classes = ["eczema", "melanoma", "psoriasis", "acne"]
    n, C = 60, 4
    labels = rng.integers(0, C, n)
    labels[labels == 1] = np.where(rng.random((labels == 1).sum()) < 0.5, 1, 2)
    logits = rng.normal(size=(n, C)) + np.eye(C)[labels]
    scores = np.round(np.exp(logits) / np.exp(logits).sum(1, keepdims=True), 1)
    tone = rng.choice(["dark", "light", "medium"], n, p=[.2, .5, .3])
    sex = rng.choice(["female", "male"], n)
    with open(os.path.join(HERE, "predictions_small.csv"), "w") as f:
        f.write("id,label," + ",".join("score_" + c for c in classes) + ",skin_tone,sex\n")
        for i in range(n):
            f.write(f"img{i:03d},{classes[labels[i]]}," + ",".join(f"{v:.1f}" for v in scores[i]) +
                    f",{tone[i]},\"{sex[i]}\"\n")
    expected, _ = evaluate(labels, scores, {"skin_tone": tone, "sex": sex}, [1], classes)
    return expected


def main():
    cls = classification_cases()
    dump("classification.json", cls)
    dump("multilabel.json", multilabel_case())
    dump("mannwhitney.json", mannwhitney_cases())
    dump("posterior.json", posterior_cases())
    dump("mmd.json", mmd_cases())
    dump("pca.json", pca_cases())
    expected = cli_case()
    dump("predictions_small_expected.json", expected)
    validate_against_schema(expected)


def dump(name, obj):
    with open(os.path.join(HERE, name), "w") as f:
        json.dump(obj, f, separators=(",", ":"))


def validate_against_schema(evaluation):
    """The sklearn-computed evaluation and a seed-aggregated metrics.json built from it must satisfy the schema."""
    import jsonschema
    with open(os.path.join(ROOT, "docs", "metrics.schema.json")) as f:
        schema = json.load(f)
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(evaluation, {"$defs": schema["$defs"], "$ref": "#/$defs/evaluation"})

    def wrap(v):
        if isinstance(v, dict):
            return {k: wrap(x) for k, x in v.items()}
        return {"mean": v, "std": 0.0 if v is not None else None, "per_seed": [v]}
    doc = {"schema": 1, "dataset": "derm-demo", "version": 1,
           "variants": {"baseline": {"seeds": 1, "splits": {"test_id": wrap(evaluation)}}},
           "selected_alpha": 0.5, "selection": "val balanced accuracy",
           "mmd": {"pairs": [{"a": "train", "b": "test_ood", "variant": "baseline", "mean": 0.01, "std": 0.002,
                              "n": 300, "S": 30}]}}
    jsonschema.validate(doc, schema)
    bad = json.loads(json.dumps(evaluation))
    del bad["accuracy"]
    try:
        jsonschema.validate(bad, {"$defs": schema["$defs"], "$ref": "#/$defs/evaluation"})
        raise SystemExit("schema accepted an evaluation without accuracy")
    except jsonschema.ValidationError:
        pass
    print("schema: sample documents valid")


if __name__ == "__main__":
    main()
