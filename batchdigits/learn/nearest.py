"""Exact distances from integer grids to a model's training grids, in float32 (numpy only).

The conversion makes grids of small integers (0..16), and the built-in model's
training grids and support vectors are such grids too.  The squared euclidean
distance of two of them is an integer, and so is every partial sum of the
matrix product that computes it: while those stay below 2**24, float32 holds
each one exactly, in whatever order BLAS adds them.  A float32 product then
gives the very numbers the float64 one of :mod:`~batchdigits.learn.arrays` gives,
bit for bit, for half the memory traffic at twice the SIMD width.
:func:`integer_bound` and :func:`exact_limit` say when that holds; any other
grid (fractions, huge values, a part behind a scaler) is predicted by the
float64 code as before.

- :class:`Neighbours`: a uniform k-NN's training grids, laid out once per model
  so that one product per block gives both the k-NN's probabilities (its ties
  broken as :func:`heap_neighbours` breaks them) and each grid's distance to the
  nearest training grid of each class
  (:func:`~batchdigits.learn.signals.class_distances`);
- :class:`Kernel`: an RBF SVC's kernel matrix, ``exp(-gamma * d)`` looked up
  by the integer squared distance ``d`` in a table of the same ``np.exp`` values;
- :func:`heap_neighbours`: scikit-learn's max-heap, replayed where a tie decides.

Measured in one process on 21,957 converted real scans (2-core AMD EPYC,
one BLAS thread, chunks of 64): the k-NN's probabilities and the class
distances together 0.31 ms a grid in float64 (two products, a full
``argpartition``), 0.05 ms here; ``tests/test_arrays.py`` checks both forms
agree bit for bit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

FLOAT32_EXACT = 2**24  # float32 holds every integer below this exactly
BLOCK = 64  # grids per block of the search (64 x 12.3k float32 distances: 3 MB)
GROUP = 16  # training grids per group of the search's first pass (fewer if the k-NN has few)
HEAP_BLOCK = 256  # training grids the heap replay filters at once
TABLE_MAX = 1 << 20  # kernel table entries at most (8 MB); a grid farther away is computed


def integer_bound(x: np.ndarray) -> float:
    """The largest ``|value|`` of ``x`` if every value is an integer, else ``inf``."""
    if x.size == 0:
        return 0.0
    largest = float(np.abs(x).max())
    if not math.isfinite(largest) or not np.array_equal(x, np.rint(x)):
        return math.inf
    return largest


def exact_limit(train: np.ndarray) -> int:
    """The largest ``|value|`` a grid may hold for its float32 squared distances to the
    rows of ``train`` ``(n, d)`` to be exact (-1: never, ``train`` is not integer-valued).

    With grid values up to X and training values up to F, every partial sum of
    ``|x|^2 - 2 x.t + |t|^2`` is at most ``d (X + F)^2`` in size: it must stay below 2**24.
    """
    bound = integer_bound(train)
    if len(train) == 0 or not math.isfinite(bound):
        return -1
    return max(-1, math.isqrt((FLOAT32_EXACT - 1) // max(1, train.shape[1])) - int(bound))


@dataclass(frozen=True)
class Neighbours:
    """A uniform k-NN's training grids laid out for :meth:`search` (see :meth:`build`).

    The training grids are sorted by class, each class padded with never-near
    columns to a multiple of ``group``, and cut into groups of ``group``
    grids; column ``s * n_groups + g`` holds grid ``s`` of group ``g``, so that
    ``d.reshape(n, group, n_groups).min(axis=1)`` is the nearest grid of each
    group in one pass over the distances.
    """

    train_t: np.ndarray  # (d, n_columns) float32: -2 x the training grids, column by column
    norms: np.ndarray  # (n_columns,) float32: their squared norms (inf: padding)
    labels: np.ndarray  # (n_columns,) class column of each (padding: 0, never chosen)
    position: np.ndarray  # (n_train,) the column of each training grid, in training order
    training_labels: np.ndarray  # (n_train,) class column of each training grid, training order
    class_groups: np.ndarray  # the first group of each class present
    present: np.ndarray  # (n_classes,) whether the class has training grids
    group: int
    k: int
    limit: int  # the largest |value| of a grid the search is exact for (exact_limit)

    @classmethod
    def build(cls, fit_x: np.ndarray, norms: np.ndarray, labels: np.ndarray, n_classes: int,
              k: int) -> Neighbours | None:
        """The layout of training grids ``fit_x`` ``(n, d)`` (squared norms ``norms``, class
        columns ``labels``) for a ``k``-NN of ``n_classes`` classes; ``None`` when no
        float32 search of them is exact (grids that are not integers)."""
        limit = exact_limit(fit_x)
        if limit < 0 or not 0 < k <= len(fit_x):
            return None
        counts = np.bincount(labels, minlength=n_classes)
        group = GROUP
        while group > 1 and int(np.sum(-(-counts // group))) < k:  # k groups at least: see search
            group //= 2
        order = np.argsort(labels, kind="stable")
        members, classes = [], []  # per group: its training grids (-1: padding), its class
        for c in np.flatnonzero(counts):
            grids = order[labels[order] == c]
            grids = np.concatenate([grids, np.full(-len(grids) % group, -1)])
            members.append(grids.reshape(-1, group))
            classes += [c] * (len(grids) // group)
        columns = np.concatenate(members).T.ravel()  # column s * n_groups + g: grid s of group g
        real = columns >= 0
        train_t = np.zeros((fit_x.shape[1], len(columns)), np.float32)
        train_t[:, real] = -2.0 * fit_x[columns[real]].T
        column_norms = np.full(len(columns), np.inf, np.float32)
        column_norms[real] = norms[columns[real]]
        position = np.empty(len(fit_x), np.intp)
        position[columns[real]] = np.flatnonzero(real)
        class_groups = np.searchsorted(classes, np.flatnonzero(counts))
        return cls(train_t, column_norms, np.where(real, labels[np.maximum(columns, 0)], 0), position,
                   np.asarray(labels, np.intp), class_groups, counts > 0, group, k, limit)

    @property
    def n_classes(self) -> int:
        return len(self.present)

    def search(self, x: np.ndarray, squared: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The k-NN's probabilities ``(n, n_classes)`` and the distance to the nearest training
        grid of each class ``(n, n_classes)`` (``inf``: a class without any) for grids ``x``
        ``(n, d)`` float32 of integers within ``limit``, whose squared norms are ``squared``.

        Bit for bit what :func:`~batchdigits.learn.arrays._knn_proba` and
        :func:`~batchdigits.learn.signals.class_distances` give in float64.
        """
        proba = np.zeros((len(x), self.n_classes))
        distances = np.full((len(x), self.n_classes), np.inf)
        for start in range(0, len(x), BLOCK):
            xb, sq = x[start : start + BLOCK], squared[start : start + BLOCK]
            d = xb @ self.train_t  # squared distance less |x|^2: exact integers
            d += self.norms
            by_group = d.reshape(len(xb), self.group, -1)
            nearest = by_group.min(axis=1)  # each group's nearest grid
            mins = np.minimum.reduceat(nearest, self.class_groups, axis=1).astype(np.float64)
            mins += sq[:, None]
            distances[start : start + len(xb), self.present] = np.sqrt(np.maximum(mins, 0.0))
            proba[start : start + len(xb)] = self._vote(d, by_group, nearest, sq)
        return proba, distances

    def _vote(self, d: np.ndarray, by_group: np.ndarray, nearest: np.ndarray, sq: np.ndarray) -> np.ndarray:
        """The share of each class among each row's k nearest (a block of :meth:`search`).

        The k-th smallest group minimum bounds each row's k-th nearest distance
        from above (k distinct grids are that near), so only groups whose
        minimum is within it hold any of the k nearest or any grid tied with
        the k-th; those few candidates (5.4 a grid on real scans, of 12k) are
        sorted exactly.  Of grids tied at the k-th distance, where they are more
        than the places left and of different classes, scikit-learn's heap
        decides (:func:`heap_neighbours`), as in ``_knn_proba``.
        """
        n, k, n_groups = len(d), self.k, nearest.shape[1]
        bound = np.partition(nearest, k - 1, axis=1)[:, k - 1]
        row, g = np.nonzero(nearest <= bound[:, None])
        values = by_group[row, :, g]  # (candidate groups, group)
        near = values <= bound[row, None]
        rows = np.broadcast_to(row[:, None], values.shape)[near]
        columns = (g[:, None] + n_groups * np.arange(self.group))[near]
        values = values[near]
        order = np.lexsort((values, rows))  # by row, nearest first
        rows, columns, values = rows[order], columns[order], values[order]
        chosen = np.searchsorted(rows, np.arange(n))[:, None] + np.arange(k)  # every row has >= k
        labels = self.labels[columns]
        kth = values[chosen[:, -1]][rows]
        tied = values == kth
        n_tied = np.bincount(rows[tied], minlength=n)
        n_less = np.bincount(rows[values < kth], minlength=n)
        counts = np.bincount((np.arange(n)[:, None] * self.n_classes + labels[chosen]).ravel(),
                             minlength=n * self.n_classes).reshape(n, self.n_classes).astype(np.float64)
        for r in np.flatnonzero(n_tied > k - n_less):  # more tied grids than places
            tied_labels = labels[tied & (rows == r)]
            if np.any(tied_labels != tied_labels[0]):
                in_order = (d[r].astype(np.float64) + sq[r])[self.position]  # the float64 distances
                counts[r] = np.bincount(self.training_labels[heap_neighbours(in_order, k)],
                                        minlength=self.n_classes)
        return counts / counts.sum(axis=1, keepdims=True)


@dataclass
class Kernel:
    """An RBF SVC's kernel matrix for integer grids: ``exp(-gamma * d)`` of the squared
    distance ``d`` to each support vector, as ``_svc_proba`` computes it in float64.

    ``d`` is an exact integer (see the module docstring), so the kernel is a
    lookup in a table of ``np.exp(d * -gamma)`` for ``d = 0, 1, 2, ...`` --
    the same values, computed once (for chunks of 64 grids and 2345 support
    vectors, ``np.exp`` took 0.022-0.028 ms a grid, the lookup 0.003-0.005).
    """

    vectors_t: np.ndarray  # (d, n_vectors) float32: -2 x the support vectors, column by column
    norms: np.ndarray  # (n_vectors,) float32: their squared norms
    gamma: float
    limit: int  # the largest |value| of a grid the kernel is exact for (exact_limit)
    table: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @classmethod
    def build(cls, vectors: np.ndarray, gamma: float) -> Kernel | None:
        """The kernel of support vectors ``vectors`` ``(n, d)``; ``None`` when no float32
        distance to them is exact (vectors that are not integers)."""
        limit = exact_limit(vectors)
        if limit < 0:
            return None
        vectors_t = np.ascontiguousarray(-2.0 * vectors.T, dtype=np.float32)
        return cls(vectors_t, np.einsum("ij,ij->i", vectors, vectors).astype(np.float32), gamma, limit)

    def __call__(self, x: np.ndarray, squared: np.ndarray) -> np.ndarray:
        """The kernel ``(n, n_vectors)`` float64 of grids ``x`` ``(n, d)`` float32 of integers
        within ``limit``, whose squared norms are ``squared``."""
        d = x @ self.vectors_t
        d += self.norms
        d += squared.astype(np.float32)[:, None]  # the squared distance: an exact integer >= 0
        index = d.astype(np.intp)
        np.maximum(index, 0, out=index)
        size = int(index.max()) + 1 if index.size else 0
        if size > TABLE_MAX:
            kernel = index.astype(np.float64)
            kernel *= -self.gamma
            return np.exp(kernel, out=kernel)
        if size > len(self.table):
            self.table = np.arange(max(4096, 1 << (size - 1).bit_length()), dtype=np.float64)
            self.table *= -self.gamma
            np.exp(self.table, out=self.table)
        return self.table[index]


def heap_neighbours(distances: np.ndarray, k: int) -> np.ndarray:
    """The k neighbours scikit-learn's ``heap_push`` keeps, walking ``distances`` in order.

    The heap's root only ever shrinks, and a grid no nearer than the root is
    never pushed: each block of grids is filtered against the root it starts
    with, and only the few left are walked in Python (a replay walked
    thousands, 5 ms each, 0.01 ms a grid on real scans).
    """
    values, indices = [np.inf] * k, [0] * k
    for start in range(0, len(distances), HEAP_BLOCK):
        block = distances[start : start + HEAP_BLOCK]
        for j in (np.flatnonzero(block < values[0]) + start).tolist():
            val = float(distances[j])
            if val >= values[0]:
                continue
            current = 0
            while True:
                left = 2 * current + 1
                right = left + 1
                if left >= k:
                    break
                if right >= k:
                    if values[left] > val:
                        swap = left
                    else:
                        break
                elif values[left] >= values[right]:
                    if val < values[left]:
                        swap = left
                    else:
                        break
                elif val < values[right]:
                    swap = right
                else:
                    break
                values[current], indices[current] = values[swap], indices[swap]
                current = swap
            values[current], indices[current] = val, j
    return np.asarray(indices)
