"""Write a model file in the layout Keras 2.2.4's ``model.save`` produced (the authors' published ``.h5`` models).

Built with h5py only (no Keras 2 needed): the functional ``Model`` config with Keras-2 class names and argument
spellings (``batch_input_shape``, ``L1L2`` regularisers, ``[[["input_layer", 0, 0, {}]]]`` inbound nodes), a
``training_config`` whose ``Nadam`` carries the Keras-2 arguments ``lr`` and ``schedule_decay`` (which Keras 3
rejects when it compiles), an ``optimizer_weights`` group, and the weights under
``model_weights/<layer>/<layer>/<name>:0`` listed by ``layer_names`` and ``weight_names`` attributes
(written by :func:`neuron_as_deep_net.l5pc.model_files.write_keras2_weights`, which the ``_weights.h5`` copies use).
The weights come from a Keras 3 model of :func:`neuron_as_deep_net.l5pc.networks.build_tcn` (same layer names).
"""

import json

import h5py
import numpy as np

from neuron_as_deep_net.l5pc import model_files

KERAS_2_VERSION = model_files.KERAS_2_VERSION_WRITTEN


def _initializer(value):
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return {"class_name": "TruncatedNormal", "config": {"mean": 0.0, "stddev": float(value), "seed": None}}
    return {"class_name": "VarianceScaling", "config": {"scale": 1.0, "mode": "fan_avg", "distribution": "uniform",
                                                         "seed": None}}


def _conv_config(name, filters, kernel_size, activation, initializer, l2, dilation=1, bias_value=None):
    bias = ({"class_name": "Zeros", "config": {}} if bias_value is None
            else {"class_name": "Constant", "config": {"value": float(bias_value)}})
    return {"name": name, "trainable": True, "filters": int(filters), "kernel_size": [int(kernel_size)],
            "strides": [1], "padding": "causal", "data_format": "channels_last", "dilation_rate": [int(dilation)],
            "activation": activation, "use_bias": True, "kernel_initializer": _initializer(initializer),
            "bias_initializer": bias, "kernel_regularizer": {"class_name": "L1L2", "config": {"l1": 0.0, "l2": l2}},
            "bias_regularizer": None, "activity_regularizer": None, "kernel_constraint": None,
            "bias_constraint": None}


def _bn_config(name, epsilon):
    return {"name": name, "trainable": True, "axis": -1, "momentum": 0.99, "epsilon": float(epsilon),
            "center": True, "scale": True, "beta_initializer": {"class_name": "Zeros", "config": {}},
            "gamma_initializer": {"class_name": "Ones", "config": {}},
            "moving_mean_initializer": {"class_name": "Zeros", "config": {}},
            "moving_variance_initializer": {"class_name": "Ones", "config": {}}, "beta_regularizer": None,
            "gamma_regularizer": None, "beta_constraint": None, "gamma_constraint": None}


def keras2_model_config(model, architecture_dict):
    """The Keras 2.2.4 ``get_config()`` of the §6 network with the given architecture."""
    window, channels = int(model.input_shape[1]), int(model.input_shape[2])
    layers = [{"name": "input_layer", "class_name": "InputLayer", "inbound_nodes": [],
               "config": {"batch_input_shape": [None, window, channels], "dtype": "float32", "sparse": False,
                          "name": "input_layer"}}]
    previous = "input_layer"
    for k in range(int(architecture_dict["network_depth"])):
        conv, bn = f"layer_{k + 1}", f"layer_{k + 1}_BN"
        activation = architecture_dict["activation_function_per_layer"][k]
        layers.append({"name": conv, "class_name": "Conv1D", "inbound_nodes": [[[previous, 0, 0, {}]]],
                       "config": _conv_config(conv, architecture_dict["num_filters_per_layer"][k],
                                              architecture_dict["filter_sizes_per_layer"][k],
                                              "<lambda>" if activation == "lrelu" else activation,
                                              architecture_dict["initializer_per_layer"][k],
                                              architecture_dict["l2_regularization_per_layer"][k],
                                              architecture_dict["dilation_rates_per_layer"][k])})
        layers.append({"name": bn, "class_name": "BatchNormalization", "inbound_nodes": [[[conv, 0, 0, {}]]],
                       "config": _bn_config(bn, model.get_layer(bn).epsilon)})
        previous = bn
    num_dvt = int(model.get_layer("dendritic").filters)
    for name, filters, activation, std, bias in (("spikes", 1, "sigmoid", 0.001, -2.0),
                                                 ("somatic", 1, "linear", 0.03, None),
                                                 ("dendritic", num_dvt, "linear", 0.05, None)):
        layers.append({"name": name, "class_name": "Conv1D", "inbound_nodes": [[[previous, 0, 0, {}]]],
                       "config": _conv_config(name, filters, 1, activation, std, 1e-8, bias_value=bias)})
    return {"class_name": "Model",
            "config": {"name": "model_1", "layers": layers, "input_layers": [["input_layer", 0, 0]],
                       "output_layers": [["spikes", 0, 0], ["somatic", 0, 0], ["dendritic", 0, 0]]}}


def write_keras2_h5(model, architecture_dict, path, learning_rate=1e-6):
    """Save ``model``'s weights and a Keras-2.2.4 config / training config as the authors' ``.h5`` files were."""
    training_config = {
        "optimizer_config": {"class_name": "Nadam", "config": {"lr": learning_rate, "beta_1": 0.9, "beta_2": 0.999,
                                                               "epsilon": 1e-07, "schedule_decay": 0.004}},
        "loss": ["binary_crossentropy", "mse", "mse"], "metrics": [], "sample_weight_mode": None,
        "loss_weights": [9.0, 0.003, 1e-09]}
    with h5py.File(path, "w") as h5file:
        h5file.attrs["keras_version"] = KERAS_2_VERSION
        h5file.attrs["backend"] = b"tensorflow"
        h5file.attrs["model_config"] = json.dumps(keras2_model_config(model, architecture_dict)).encode("utf8")
        h5file.attrs["training_config"] = json.dumps(training_config).encode("utf8")
        model_files.write_keras2_weights(h5file.create_group("model_weights"), model)
        optimizer_group = h5file.create_group("optimizer_weights")
        names = [b"training/Nadam/Variable:0", b"training/Nadam/m_schedule:0"]
        optimizer_group.attrs["weight_names"] = np.array(names, dtype="S")
        for name, value in zip(names, (np.int64(0), np.float32(1.0))):
            optimizer_group.create_dataset(name.decode("utf8"), data=value)
    return path
