"""fit_CNN's window generator (spec §6 SimulationDataGenerator): :class:`WindowSampler` and its tf.data stream."""

import itertools
from collections import OrderedDict

import numpy as np

from ..core.errors import DataFileError
from ..core.windows import dense_windows


# ---------------------------------------------------------------------------------------------------------
# window sampling (§6 SimulationDataGenerator) and tf.data streaming
# ---------------------------------------------------------------------------------------------------------

class WindowSampler:
    """Batches of random windows as the §6 generator draws them, one Keras epoch at a time.

    Per epoch: ``num_files_per_epoch`` files chosen at random without replacement; the batch indices
    0..len-1 are visited in a random order (Keras shuffled Sequence indices) or in order (validation);
    whenever (index + 1) is a multiple of ``batches_per_file`` the next file of the epoch's list is loaded
    (cyclically) before the batch is drawn; the epoch starts on its first file. A batch takes ``batch_size``
    simulations with replacement and as many window end times without replacement from
    [max(ignore_time_from_start, W), T); windows are [end - W, end).

    ``batches_per_file`` = int(file_load * sims * T / (batch_size * W)) of the first file (as the original
    computed it when the generator was created). Each epoch's draws come from its own generator
    ``default_rng([seed, stream, epoch])``, so an epoch can be regenerated exactly (this is what makes
    ``--resume`` exact) and prefetching ahead changes nothing. ``load_arrays(path)`` returns the dict of
    :func:`datasets.training_arrays` (sparse inputs); loaded files are kept in memory, least recently used
    dropped first, within ``memory_budget_gb`` (the current file is always kept).
    """

    def __init__(self, files, load_arrays, batch_size, window_size, file_load, num_files_per_epoch,
                 ignore_time_from_start=500, shuffle=True, seed=0, stream=0, memory_budget_gb=4.0, name="train",
                 log=print):
        if not files:
            raise ValueError(f"no {name} files")
        self.files = list(files)
        self.load_arrays = load_arrays
        self.batch_size = int(batch_size)
        self.window_size = int(window_size)
        self.ignore_time_from_start = int(ignore_time_from_start)
        self.shuffle = bool(shuffle)
        self.seed = int(seed)
        self.stream = int(stream)
        self.memory_budget_bytes = float(memory_budget_gb) * 2**30
        self.name = name
        self.log = log or (lambda *args, **kwargs: None)
        self.num_files_per_epoch = min(int(num_files_per_epoch), len(self.files))
        if self.num_files_per_epoch < num_files_per_epoch:
            self.log(f"{name}: only {len(self.files)} files, so {self.num_files_per_epoch} (not "
                     f"{num_files_per_epoch}) are used per epoch")
        self._loaded = OrderedDict()
        first = self.arrays(self.files[0])
        num_sims, num_time_bins, self.num_channels = first["shape"]
        self.num_DVT_components = first["y_DVT"].shape[2]
        self.batches_per_file = max(1, int(file_load * num_sims * num_time_bins / (self.batch_size * self.window_size)))
        self.files_histogram = {}  # cumulative batches drawn per file, merged one epoch at a time
        self._epoch_files = {}  # epoch -> {batch position: file}, so an epoch drawn twice counts once

    def __len__(self):
        return self.batches_per_file * self.num_files_per_epoch

    def arrays(self, path):
        """The training arrays of a file (loaded on demand, kept within the memory budget)."""
        if path in self._loaded:
            self._loaded.move_to_end(path)
            return self._loaded[path]
        arrays = self.load_arrays(path)
        num_time_bins = arrays["shape"][1]
        first_end = max(self.ignore_time_from_start, self.window_size)
        if num_time_bins - first_end < self.batch_size:
            raise DataFileError(path, f"simulations of {num_time_bins} ms are too short for windows of "
                                      f"{self.window_size} ms ending in [{first_end}, {num_time_bins}) with "
                                      f"{self.batch_size} distinct end times per batch",
                                "use longer simulations or a smaller window, batch or ignored start")
        if hasattr(self, "num_channels") and (arrays["shape"][2] != self.num_channels or
                                              arrays["y_DVT"].shape[2] != self.num_DVT_components):
            raise DataFileError(path, f"{arrays['shape'][2]} input channels / {arrays['y_DVT'].shape[2]} DVT "
                                      f"components, but the first file has {self.num_channels} / "
                                      f"{self.num_DVT_components}")
        self._loaded[path] = arrays
        while len(self._loaded) > 1 and sum(_nbytes(a) for a in self._loaded.values()) > self.memory_budget_bytes:
            self._loaded.popitem(last=False)
        return arrays

    def epoch_plan(self, epoch):
        """(file list, batch-index order, rng) of one epoch."""
        rng = np.random.default_rng([self.seed, self.stream, int(epoch)])
        chosen = rng.choice(len(self.files), size=self.num_files_per_epoch, replace=False)
        order = rng.permutation(len(self)) if self.shuffle else np.arange(len(self))
        return [self.files[i] for i in chosen], order, rng

    def draw_indices(self, arrays, rng):
        """The random draws of one batch: simulations (with replacement) and window ends (without)."""
        num_sims, num_time_bins = arrays["shape"][:2]
        sims = rng.integers(0, num_sims, size=self.batch_size)  # with replacement
        first_end = max(self.ignore_time_from_start, self.window_size)
        ends = first_end + rng.choice(num_time_bins - first_end, size=self.batch_size, replace=False)
        return sims, ends

    def batch_arrays(self, arrays, sims, ends):
        """The batch of drawn windows: X bool (B, W, C); y_spike, y_soma (B, W, 1) and y_DVT (B, W, K) float32."""
        times = np.asarray(ends)[:, None] - self.window_size + np.arange(self.window_size)[None, :]  # (B, W)
        rows = np.asarray(sims)[:, None]
        return (dense_windows(arrays["spike_index"], arrays["shape"], sims, ends, self.window_size),
                (arrays["y_spike"][rows, times][..., None].astype(np.float32),
                 arrays["y_soma"][rows, times][..., None],
                 arrays["y_DVT"][rows, times]))

    def draw_batch(self, arrays, rng):
        """One batch from one file (:meth:`draw_indices`, then :meth:`batch_arrays`)."""
        return self.batch_arrays(arrays, *self.draw_indices(arrays, rng))

    def epoch_draws(self, epoch):
        """(file, sims, ends) of each of the ``len(self)`` batches of one epoch, in order, noting each batch's
        file for the histogram. Files are loaded here, at the switches, as the batches are drawn. Drawing an
        epoch again gives the same batches and counts once (under a tf.distribute strategy Keras starts a
        dataset's generator twice, the first time only to peek)."""
        files, order, rng = self.epoch_plan(epoch)
        batch_files = self._epoch_files.setdefault(int(epoch), {})
        file_position = 0
        current = self.arrays(files[0])
        for position, index in enumerate(order):
            if (int(index) + 1) % self.batches_per_file == 0:
                file_position = (file_position + 1) % len(files)
                current = self.arrays(files[file_position])
            batch_files[position] = files[file_position]
            yield (files[file_position], *self.draw_indices(current, rng))

    def epoch_batches(self, epoch):
        """Generate the ``len(self)`` batches of one epoch (:meth:`epoch_draws`, each cut by :meth:`batch_arrays`)."""
        for path, sims, ends in self.epoch_draws(epoch):
            yield self.batch_arrays(self.arrays(path), sims, ends)

    def commit_epoch(self, epoch):
        """Merge one finished epoch's batch counts into ``files_histogram``; returns that epoch's count."""
        batch_files = self._epoch_files.pop(int(epoch), {})
        for path in batch_files.values():
            self.files_histogram[path] = self.files_histogram.get(path, 0) + 1
        return len(batch_files)

    def output_signature(self):
        import tensorflow as tf

        B, W = self.batch_size, self.window_size
        return (tf.TensorSpec((B, W, self.num_channels), tf.bool),
                (tf.TensorSpec((B, W, 1), tf.float32), tf.TensorSpec((B, W, 1), tf.float32),
                 tf.TensorSpec((B, W, self.num_DVT_components), tf.float32)))


def _nbytes(arrays):
    return sum(value.nbytes for value in arrays.values() if isinstance(value, np.ndarray))


def window_stream_dataset(sampler, first_epoch, num_epochs, prefetch_batches=None, cast_on_device=False):
    """tf.data stream of ``num_epochs`` epochs of a :class:`WindowSampler`.

    A Python generator makes the random draws in order and loads the files (so the batches are exactly those
    of :meth:`WindowSampler.epoch_batches`); cutting the windows out of the sparse inputs runs in a parallel,
    order-keeping ``map``, and ``prefetch`` (default AUTOTUNE) prepares the next batches while the model
    trains. Inputs are cast from bool to float32 in the pipeline or, with ``cast_on_device`` (GPU), by the
    model (a quarter of the bytes to copy to the device).
    """
    import tensorflow as tf

    pinned = {}  # draw number -> its file's arrays until the batch is cut (the LRU may drop the file meanwhile)
    numbers = itertools.count()  # unique over every start of the generator

    def generate():
        for epoch in range(first_epoch, first_epoch + num_epochs):
            for path, sims, ends in sampler.epoch_draws(epoch):
                number = next(numbers)
                pinned[number] = sampler.arrays(path)
                yield number, np.asarray(sims, dtype=np.int64), np.asarray(ends, dtype=np.int64)

    def cut(number, sims, ends):
        x, (y_spike, y_soma, y_DVT) = sampler.batch_arrays(pinned.pop(int(number)), sims, ends)
        return x, y_spike, np.asarray(y_soma, dtype=np.float32), np.asarray(y_DVT, dtype=np.float32)

    x_spec, (spike_spec, soma_spec, dvt_spec) = sampler.output_signature()

    def cut_batch(number, sims, ends):
        x, y_spike, y_soma, y_DVT = tf.numpy_function(cut, [number, sims, ends],
                                                      [tf.bool, tf.float32, tf.float32, tf.float32], stateful=True)
        for tensor, spec in ((x, x_spec), (y_spike, spike_spec), (y_soma, soma_spec), (y_DVT, dvt_spec)):
            tensor.set_shape(spec.shape)
        return (x if cast_on_device else tf.cast(x, tf.float32)), (y_spike, y_soma, y_DVT)

    batch = (sampler.batch_size,)
    dataset = tf.data.Dataset.from_generator(generate, output_signature=(
        tf.TensorSpec((), tf.int64), tf.TensorSpec(batch, tf.int64), tf.TensorSpec(batch, tf.int64)))
    dataset = dataset.map(cut_batch, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    options = tf.data.Options()  # the batches are split across replicas by the strategy, never sharded
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
    return dataset.with_options(options).prefetch(tf.data.AUTOTUNE if prefetch_batches is None else prefetch_batches)
