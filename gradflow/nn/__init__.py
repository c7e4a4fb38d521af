"""gradflow.nn: layers, losses and initializers on the graph engine."""

from . import functional, init, losses
from .activation import (
    ACTIVATIONS,
    ELU,
    GELU,
    SELU,
    GELUApprox,
    Identity,
    LeakyReLU,
    LogSoftmax,
    Mish,
    PReLU,
    ReLU,
    RReLU,
    Sigmoid,
    SiLU,
    Softmax,
    Softplus,
    Step,
    Swish,
    Tanh,
    get_activation,
)
from .attention import SelfAttention, scaled_dot_product_attention
from .checks import gradcheck_module
from .conv import Conv1d, Conv2d, conv1d, conv2d
from .dropout import Dropout
from .fold import fold_batchnorm
from .init import manual_seed
from .linear import Linear
from .losses import LOSSES, get_loss
from .models import MODELS, Autoencoder, SequenceModel, cnn, gru, lenet, lstm, mlp, rnn
from .module import Module, Parameter, Sequential
from .norm import BatchNorm1d, BatchNorm2d
from .perceptron import Adaline, Perceptron, adaline_step, perceptron_step
from .pool import (
    AvgPool1d,
    AvgPool2d,
    Flatten,
    MaxPool1d,
    MaxPool2d,
    avg_pool1d,
    avg_pool2d,
    max_pool1d,
    max_pool2d,
)
from .recurrent import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell
from .residual import Residual
from .shape import Reshape

__all__ = [
    "ACTIVATIONS",
    "ELU",
    "GELU",
    "GRU",
    "LOSSES",
    "LSTM",
    "MODELS",
    "RNN",
    "SELU",
    "Adaline",
    "Autoencoder",
    "AvgPool1d",
    "AvgPool2d",
    "BatchNorm1d",
    "BatchNorm2d",
    "Conv1d",
    "Conv2d",
    "Dropout",
    "Flatten",
    "GELUApprox",
    "GRUCell",
    "Identity",
    "LSTMCell",
    "LeakyReLU",
    "Linear",
    "LogSoftmax",
    "MaxPool1d",
    "MaxPool2d",
    "Mish",
    "Module",
    "PReLU",
    "Parameter",
    "Perceptron",
    "RNNCell",
    "RReLU",
    "ReLU",
    "Reshape",
    "Residual",
    "SelfAttention",
    "SequenceModel",
    "Sequential",
    "SiLU",
    "Sigmoid",
    "Softmax",
    "Softplus",
    "Step",
    "Swish",
    "Tanh",
    "adaline_step",
    "avg_pool1d",
    "avg_pool2d",
    "cnn",
    "conv1d",
    "conv2d",
    "fold_batchnorm",
    "functional",
    "get_activation",
    "get_loss",
    "gradcheck_module",
    "gru",
    "init",
    "lenet",
    "losses",
    "lstm",
    "manual_seed",
    "max_pool1d",
    "max_pool2d",
    "mlp",
    "perceptron_step",
    "rnn",
    "scaled_dot_product_attention",
]
