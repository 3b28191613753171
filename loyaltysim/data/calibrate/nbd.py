"""Trip counts per customer as a negative binomial (NBD): Poisson counts whose rates are gamma
distributed across customers, fitted by maximum likelihood, zero-truncated when the customers with
no trip are unknown."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import optimize, special

from loyaltysim.data.calibrate.panel import CalibrationError


@dataclass(frozen=True)
class NBDFit:
    """A negative binomial fit of trip counts over ``years``: rates ~ Gamma(shape, rate) per year."""

    shape: float
    rate: float            # gamma rate per year (mean rate = shape / rate)
    years: float
    customers: int         # customers in the fit (with zeros when not truncated)
    truncated: bool
    shape_se: float
    mean_se: float
    loglik: float

    @property
    def mean(self) -> float:
        """Mean trips per customer per year."""
        return self.shape / self.rate

    @property
    def zero_share(self) -> float:
        """P(no trip in the window) under the untruncated NBD."""
        return (self.rate / (self.rate + self.years)) ** self.shape

    def pmf(self, k: np.ndarray) -> np.ndarray:
        """P(k trips in the window), zero-truncated when the fit is."""
        p = self.rate / (self.rate + self.years)
        out = np.exp(special.gammaln(k + self.shape) - special.gammaln(self.shape) - special.gammaln(k + 1)
                     + self.shape * np.log(p) + k * np.log1p(-p))
        if self.truncated:
            out = np.where(k == 0, 0.0, out / (1.0 - self.zero_share))
        return out

    def window_mean_var(self) -> tuple[float, float]:
        """Mean and variance of trips per customer over the window (of buyers when truncated)."""
        m = self.mean * self.years
        v = m + m * m / self.shape
        if not self.truncated:
            return m, v
        buyers = 1 - self.zero_share
        mt = m / buyers
        return mt, (v + m * m) / buyers - mt * mt


def _nbd_terms(theta: np.ndarray, k: np.ndarray, w: np.ndarray, years: float, truncated: bool):
    r, a = np.exp(theta)
    lq = -np.log1p(years / a)                   # log P(0) per unit shape, stable for large a
    ll = (special.gammaln(k + r) - special.gammaln(r) - special.gammaln(k + 1) + r * lq
          - k * np.log1p(a / years))
    dr = special.digamma(k + r) - special.digamma(r) + lq
    da = r / a - (r + k) / (a + years)
    if truncated:
        x = r * lq                           # log P(0) < 0
        one_minus_q = -np.expm1(x)           # P(at least one trip), stable for x near 0
        odds = np.exp(x) / one_minus_q       # P(0) / P(>0)
        ll = ll - np.log(one_minus_q)
        dr = dr + odds * lq
        da = da + odds * r * (1 / a - 1 / (a + years))
    nll = -(w * ll).sum()
    grad = -np.array([(w * dr).sum() * r, (w * da).sum() * a])
    return nll, grad


def fit_nbd(counts: np.ndarray, years: float, *, truncated: bool = False) -> NBDFit:
    """Maximum-likelihood NBD fit of trip counts per customer over ``years`` (scipy L-BFGS-B).

    With ``truncated`` the counts are customers with at least one trip and the likelihood is the
    zero-truncated NBD; otherwise zeros (customers known to exist who never bought) are in ``counts``.
    Standard errors come from the observed information (a numerical Hessian).
    """
    counts = np.asarray(counts, dtype=np.int64)
    if truncated:
        counts = counts[counts > 0]
    if counts.size < 2 or counts.sum() == 0:
        raise CalibrationError(f"too few customers with trips to fit trip rates (got {counts.size})")
    k, w = np.unique(counts, return_counts=True)
    k, w = k.astype(float), w.astype(float)
    m, v = counts.mean(), counts.var(ddof=1)
    r0 = m * m / (v - m) if v > m * 1.01 else 50.0
    r0 = float(np.clip(r0, 0.05, 1e3))
    theta0 = np.log([r0, r0 / (m / years)])
    bounds = [(math.log(1e-3), math.log(1e4)), (-40.0, 40.0)]
    res = optimize.minimize(_nbd_terms, theta0, args=(k, w, years, truncated), jac=True, method="L-BFGS-B",
                            bounds=bounds, options={"ftol": 1e-13, "gtol": 1e-9, "maxiter": 2000})
    theta = res.x
    # Observed information by central differences of the analytic gradient.
    h = 1e-5
    H = np.zeros((2, 2))
    for j in range(2):
        e = np.zeros(2)
        e[j] = h
        H[:, j] = (_nbd_terms(theta + e, k, w, years, truncated)[1] - _nbd_terms(theta - e, k, w, years, truncated)[1]) / (2 * h)
    H = 0.5 * (H + H.T)
    r, a = np.exp(theta)
    try:
        cov = np.linalg.inv(H)
        shape_se = float(r * math.sqrt(max(cov[0, 0], 0.0)))
        g = np.array([1.0, -1.0])  # d log(mean) / d theta, mean = r / a
        mean_se = float((r / a) * math.sqrt(max(g @ cov @ g, 0.0)))
    except np.linalg.LinAlgError:
        shape_se = mean_se = float("nan")
    return NBDFit(shape=float(r), rate=float(a), years=years, customers=int(w.sum()), truncated=truncated,
                  shape_se=shape_se, mean_se=mean_se, loglik=float(-res.fun))

