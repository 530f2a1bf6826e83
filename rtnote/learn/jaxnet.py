"""Training :class:`rtnote.learn.spectrogram.SpectrogramNet` with JAX (the ``train`` extra).

Only training needs JAX; the fitted weights are NumPy arrays and prediction is NumPy
(spectrogram.py). The layers here mirror ``SpectrogramNet._proba_one`` exactly.
"""

import numpy as np

from rtnote.errors import RtnoteError


def _jax():
    try:
        import jax
        import jax.numpy as jnp
    except ImportError as exc:
        raise RtnoteError(f"training the spectrogram network needs JAX: pip install 'rtnote[train]' ({exc})") from None
    return jax, jnp


def _init(rng, n_mels, channels, hidden, n_classes):
    """LeCun-initialized weights (variance 1 / fan-in; the last layer 10x smaller, so the
    first predictions are near uniform): conv [3, 3, in, out], dense [in, out]."""
    params = {"conv": []}
    c_in = 1
    for c_out in channels:
        w = rng.standard_normal((3, 3, c_in, c_out)) * np.sqrt(1.0 / (9 * c_in))
        params["conv"].append((w.astype(np.float32), np.zeros(c_out, np.float32)))
        c_in = c_out
    n_pooled = 2 * (n_mels // 4) * channels[-1] + 1
    params["dense"] = ((rng.standard_normal((n_pooled, hidden)) * np.sqrt(1.0 / n_pooled)).astype(np.float32),
                       np.zeros(hidden, np.float32))
    params["out"] = ((rng.standard_normal((hidden, n_classes)) * 0.1 * np.sqrt(1.0 / hidden)).astype(np.float32),
                     np.zeros(n_classes, np.float32))
    return params


def _logits(jax, jnp, params, x, pitch, dropout=None):
    """x [B, F, T] (already cropped and normalized), pitch [B] -> logits [B, n_classes].
    ``dropout``: (rate, PRNG key) while training: drop that share of the dense layers' inputs."""
    x = x[..., None]
    for i, (w, b) in enumerate(params["conv"]):
        x = jax.lax.conv_general_dilated(x, w, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))
        x = jax.nn.relu(x + b)
        if i < 2:
            x = x.reshape(x.shape[0], x.shape[1] // 2, 2, *x.shape[2:]).max(axis=2)
    pooled = jnp.concatenate([x.mean(axis=2), x.max(axis=2)], axis=1)  # B, 2F', C
    h = jnp.concatenate([pooled.reshape(len(pooled), -1), pitch[:, None]], axis=1)
    if dropout:
        keys = jax.random.split(dropout[1])
        h = h * jax.random.bernoulli(keys[0], 1 - dropout[0], h.shape) / (1 - dropout[0])
    h = jax.nn.relu(h @ params["dense"][0] + params["dense"][1])
    if dropout:
        h = h * jax.random.bernoulli(keys[1], 1 - dropout[0], h.shape) / (1 - dropout[0])
    return h @ params["out"][0] + params["out"][1]


def renormalize(patches):
    """Patches [.., F, T] (as log_mel_patch) re their own peak, floored at 0: what
    log_mel_patch gives for the same frames heard alone."""
    return np.maximum(patches - patches.max(axis=(-2, -1), keepdims=True) + 1.0, 0.0)


def augment_patches(x, rng, eq_db, floor):
    """Training copies of patches [B, F, T] (as :func:`renormalize` gives) with what a bank
    changes and a family does not: a random smooth EQ of what is heard (up to ``eq_db``
    dB: three cosines over the bands, each of random level, phase and 1/4 to 3/2 cycles)
    and a random noise floor (up to ``floor``, in patch units: 0.25 = 20 dB above the
    -80 dB floor)."""
    b, f = x.shape[:2]
    if eq_db:
        bands = np.linspace(0.0, np.pi, f)
        cycles = rng.uniform(0.5, 3.0, (b, 3, 1))
        curve = (rng.uniform(-1, 1, (b, 3, 1)) * np.cos(cycles * bands + rng.uniform(0, 2 * np.pi, (b, 3, 1)))).sum(1)
        x = np.where(x > 0, x + (eq_db / 3.0 / 80.0) * curve[:, :, None].astype(np.float32), 0.0)
    if floor:
        x = np.maximum(x, rng.uniform(0.0, floor, (b, 1, 1)).astype(np.float32))
    return renormalize(x)


def train_network(patches, pitch, labels, n_classes, hyper, progress=None):
    """Fit the network with AdamW on label-smoothed cross-entropy.

    Parameters
    ----------
    patches : np.ndarray [shape=(n, n_mels, n_frames), float32]
    pitch : np.ndarray [shape=(n,)]  log2(f0 / 440 Hz)
    labels : np.ndarray [shape=(n,), int]
    n_classes : int
    hyper : SpectrogramNet (channels, hidden, epochs, batch_size, learning_rate,
        weight_decay, crop_frames, random_state)
    progress : callable(epoch, epochs) or None

    Returns
    -------
    dict of NumPy arrays: ``conv`` [(w, b)] * 3, ``dense`` (w, b), ``out`` (w, b)
    """
    jax, jnp = _jax()
    rng = np.random.default_rng(hyper.random_state)
    params = _init(rng, patches.shape[1], hyper.channels, hyper.hidden, n_classes)
    leaves, tree = jax.tree_util.tree_flatten(params)
    leaves = [jnp.asarray(a) for a in leaves]
    first = [jnp.zeros_like(a) for a in leaves]
    second = [jnp.zeros_like(a) for a in leaves]
    b1, b2, smooth = 0.9, 0.999, 0.1

    key = jax.random.PRNGKey(hyper.random_state)

    def loss(leaves, x, f, y, t):
        dropout = (hyper.dropout, jax.random.fold_in(key, t)) if hyper.dropout else None
        logits = _logits(jax, jnp, jax.tree_util.tree_unflatten(tree, leaves), x, f, dropout)
        target = jax.nn.one_hot(y, n_classes) * (1 - smooth) + smooth / n_classes
        return -(target * jax.nn.log_softmax(logits)).sum(axis=1).mean()

    @jax.jit
    def step(leaves, first, second, t, x, f, y):
        grads = jax.grad(loss)(leaves, x, f, y, t.astype(jnp.uint32))
        first = [b1 * m + (1 - b1) * g for m, g in zip(first, grads)]
        second = [b2 * v + (1 - b2) * g * g for v, g in zip(second, grads)]
        leaves = [p - hyper.learning_rate * (m / (1 - b1 ** t) / (jnp.sqrt(v / (1 - b2 ** t)) + 1e-8)
                                             + hyper.weight_decay * p)
                  for p, m, v in zip(leaves, first, second)]
        return leaves, first, second

    n = len(labels)
    batch = min(hyper.batch_size, n)
    t = 0
    for epoch in range(hyper.epochs):
        order = rng.permutation(n)
        for start in range(0, n - batch + 1, batch):
            idx = order[start:start + batch]
            length = int(rng.choice(hyper.crop_frames))
            x = renormalize(patches[idx, :, :length])
            if hyper.eq_db or hyper.floor:
                x = augment_patches(x, rng, hyper.eq_db, hyper.floor)
            t += 1
            leaves, first, second = step(leaves, first, second, float(t), x, pitch[idx], labels[idx])
        if progress:
            progress(epoch + 1, hyper.epochs)
    return jax.tree_util.tree_unflatten(tree, [np.asarray(a, dtype=np.float32) for a in leaves])
