"""Early warning of escalation: per community and week, the probability of the outcome
named in stability_indicators.yaml (``warning``: a mass incident 群体性事件 next week).

Features: this week's composite score (the weighted indicators), its change from last week
(``score_trend``) and its excess over the community's own mean of the weeks before
(``score_excess``: escalation is a departure from a community's own normal). Richer feature
sets were tried on the three moderate demo cities (seeds 20260831, 1, 2): the twelve
normalised indicators beside the score, and their own changes or excesses. With 14-23
outcomes per run they overfitted: precision@k fell below 0.8 x the oracle's on seed 1
(0.206-0.238 against 0.254), where these three features reach 0.270. The indicators still
explain the score itself (its contributions in gold.stability_risk).
Model: logistic regression on standardised features inside ``CalibratedClassifierCV``
(sigmoid, 3 folds), so its probabilities are calibrated. Explanations: per row, each
feature's contribution to the log-odds (coefficient x standardised value, averaged over the
calibrated folds); globally, the mean absolute contribution, as shares.

Backtest with a rolling origin: for each week t, train on the weeks whose outcome was known
by t (features of week w <= t - horizon, outcome of week w + horizon), predict week t. An
origin is scored only once its training weeks hold ``min_train_positives`` outcomes.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from sklearn.calibration import CalibratedClassifierCV
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from citybrain.models.stability_index import SCORED, IndexConfig

SEED = 20260831


FEATURES = ["score", "score_trend", "score_excess"]


def feature_names(cfg: IndexConfig) -> list[str]:
    return list(FEATURES)


def features(scored: pd.DataFrame, cfg: IndexConfig) -> pd.DataFrame:
    """Scored community-weeks with the model's features, each from this week and the weeks before only.

    score_trend = score - last week's score; score_excess = score - mean of the community's earlier
    weeks; both 0 in a community's first week.
    """
    rows = scored[scored["status"] == SCORED].sort_values(["community_code", "iso_week"]).copy()
    by_community = rows.groupby("community_code")["score"]
    rows["score_trend"] = (rows["score"] - by_community.shift(1)).fillna(0.0)
    rows["score_excess"] = (rows["score"] - by_community.transform(lambda s: s.shift(1).expanding().mean())).fillna(0.0)
    return rows.reset_index(drop=True)


def with_labels(rows: pd.DataFrame, outcomes: pd.DataFrame, weeks: list[str], horizon: int) -> pd.DataFrame:
    """``label`` = 1 when the community has an outcome in any of the next ``horizon`` weeks; null
    for the last weeks, whose future is not in the data. ``outcomes``: community_code, iso_week."""
    pos = {w: i for i, w in enumerate(weeks)}
    hit = set(zip(outcomes["community_code"], outcomes["iso_week"].map(pos), strict=False))
    idx = rows["iso_week"].map(pos).to_numpy()
    label = [
        float(any((c, i + h) in hit for h in range(1, horizon + 1))) if i + horizon < len(weeks) else np.nan
        for c, i in zip(rows["community_code"], idx, strict=False)
    ]
    return rows.assign(label=label, week_index=idx)


def _model() -> CalibratedClassifierCV:
    base = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000))
    return CalibratedClassifierCV(base, method="sigmoid", cv=StratifiedKFold(3, shuffle=True, random_state=SEED))


def contributions(model: CalibratedClassifierCV, x: np.ndarray) -> np.ndarray:
    """Per row and feature: coefficient x standardised value, averaged over the calibrated folds."""
    parts = []
    for fitted in model.calibrated_classifiers_:
        pipe = fitted.estimator
        scaler, logit = pipe[0], pipe[-1]
        parts.append(scaler.transform(x) * logit.coef_[0])
    return np.mean(parts, axis=0)


def rolling_origin(rows: pd.DataFrame, cfg: IndexConfig) -> tuple[pd.DataFrame, pd.Series]:
    """Out-of-sample predictions of every origin week that could be trained, and global importance.

    Returns (rows of the predicted weeks with ``probability``, ``origin_week`` and the top three
    ``reason1..3``; importance per feature as shares of the mean absolute contribution).
    """
    names = feature_names(cfg)
    horizon = int(cfg.warning.get("horizon_weeks", 1))
    need = int(cfg.warning.get("min_train_positives", 3))
    out, contribs = [], []
    for t in sorted(rows["week_index"].unique()):
        train = rows[(rows["week_index"] <= t - horizon) & rows["label"].notna()]
        positives = int(train["label"].sum())
        if positives < max(need, 3) or len(train) - positives < 3:
            continue
        model = _model().fit(train[names].to_numpy(), train["label"].to_numpy().astype(int))
        test = rows[rows["week_index"] == t].copy()
        x = test[names].to_numpy()
        test["probability"] = model.predict_proba(x)[:, 1]
        test["origin_week"] = t
        c = contributions(model, x)
        order = np.argsort(-c, axis=1, kind="stable")
        for k in range(min(3, len(names))):
            test[f"reason{k + 1}"] = [names[j] if c[i, j] > 0 else None for i, j in enumerate(order[:, k])]
        out.append(test)
        contribs.append(np.abs(c))
    if not out:
        empty = rows.iloc[0:0].assign(probability=[], origin_week=[], reason1=[], reason2=[], reason3=[])
        return empty, pd.Series(0.0, index=names)
    mean_abs = np.concatenate(contribs).mean(axis=0)
    return pd.concat(out, ignore_index=True), pd.Series(mean_abs / mean_abs.sum(), index=names)


def top_k(n_communities: int, share: float) -> int:
    return max(1, math.ceil(share * n_communities))


def backtest_metrics(pred: pd.DataFrame, score: str, k: int) -> dict:
    """ROC AUC, precision@k and lead time of one score column over labelled predicted rows.

    precision@k: per week with at least one positive, the share of positives among the k
    highest-scored communities, averaged. Lead time of an outcome (label week w = the week
    before it): the number of consecutive weeks up to w the community was in the top k; 0
    when it was not in the top k at w. The median is over outcomes alerted at least one week
    ahead; ``detected_share`` says how many were.
    """
    rows = pred[pred["label"].notna()].copy()
    rows["rank"] = rows.groupby("iso_week")[score].rank(ascending=False, method="first")
    rows["alert"] = rows["rank"] <= k
    y = rows["label"].astype(int)
    auc = float(roc_auc_score(y, rows[score])) if y.nunique() == 2 else float("nan")
    weekly = [g.loc[g["alert"], "label"].sum() / k for _, g in rows.groupby("iso_week") if g["label"].sum() > 0]
    alert = {(c, w): a for c, w, a in zip(rows["community_code"], rows["week_index"], rows["alert"], strict=False)}
    leads = []
    for c, w in zip(rows.loc[y == 1, "community_code"], rows.loc[y == 1, "week_index"], strict=False):
        lead = 0
        while alert.get((c, w - lead), False):
            lead += 1
        leads.append(lead)
    detected = [v for v in leads if v > 0]
    return {
        "roc_auc": auc,
        "precision_at_k": float(np.mean(weekly)) if weekly else float("nan"),
        "median_lead_weeks": float(np.median(detected)) if detected else float("nan"),
        "detected_share": len(detected) / len(leads) if leads else float("nan"),
        "positives": int(y.sum()),
        "rows": len(rows),
        "weeks": int(rows["iso_week"].nunique()),
        "k": k,
    }
