"""Stages for recurrent layers (over whole sequences) and batch normalisation."""

from __future__ import annotations

import numpy as np

from .. import nn
from ..errors import ShapeError
from ..kernels import norm as norm_k
from ..kernels import recurrent as rec_k
from .stages import Stage
from .stages import grad_view as _grad


class Recurrent(Stage):
    """RNN/LSTM/GRU over a whole sequence (B, T, I).

    ``last=True`` (a head on the last state, as ``SequenceModel``) outputs h_T (B, H);
    otherwise all hidden states (B, T, H).
    """

    has_params = True

    def __init__(self, name, layer, last, dtype):
        super().__init__(dtype)
        kind = next(k for k in (nn.LSTM, nn.GRU, nn.RNN) if isinstance(layer, k))
        self.name, self.kind, self.last = name, kind, last
        self.relu = kind is nn.RNN and layer.config().get("nonlinearity", "tanh") == "relu"
        self.w_ih, self.w_hh = layer.weight_ih.data, layer.weight_hh.data
        self.gw_ih, self.gw_hh = _grad(layer.weight_ih), _grad(layer.weight_hh)
        if kind is nn.GRU:
            self.b_ih, self.b_hh = layer.bias_ih.data, layer.bias_hh.data
            self.gb_ih, self.gb_hh = _grad(layer.bias_ih), _grad(layer.bias_hh)
        else:
            self.b, self.gb = layer.bias.data, _grad(layer.bias)
        self.hidden = layer.weight_hh.shape[1]
        self.inputs = layer.weight_ih.shape[1]
        self.fast = self.dtype == np.float32  # rational tanh: float32 accuracy, vectorises
        self.none = np.zeros((0, 0, 0), dtype=self.dtype)
        self.none2 = np.zeros((0, 0), dtype=self.dtype)

    def allocate(self, in_shape):
        if len(in_shape) != 3 or in_shape[2] != self.inputs or in_shape[1] < 1:
            raise ShapeError(
                f"{self.name}: expects (B, T, {self.inputs}) with T ≥ 1, got {in_shape}"
            )
        b, t, i = in_shape
        h, g = self.hidden, self.w_ih.shape[0]
        ws = {
            "out_shape": (b, h) if self.last else (b, t, h),
            "xt": self.buf((t, b, i)),
            "xw": self.buf((t, b, g)),
            "hs": self.buf((t + 1, b, h)),
            "tmp": self.buf((b, g)),
            "out": self.buf((b, t, h)),
            "delta": self.buf((t, b, g)),
            "dh": self.buf((b, h)),
            "dxt": self.buf((t, b, i)),
            "dx": self.buf((b, t, i)),
            "d_all": self.buf((t, b, h)),
            "zeros_h": self.buf((b, h)),
            "w_t": self.buf((h, g)),
        }
        if self.kind is nn.LSTM:
            ws.update(cs=self.buf((t + 1, b, h)), gates=self.buf((t, b, g)),
                      tanh_c=self.buf((t, b, h)), dc=self.buf((b, h)))  # fmt: skip
        if self.kind is nn.GRU:
            ws.update(gates=self.buf((t, b, g)), hn=self.buf((t, b, h)),
                      delta_h=self.buf((t, b, g)), dh_prev=self.buf((b, h)))  # fmt: skip
        return ws

    def forward(self, x, training):
        ws = self.ws
        if self.kind is nn.RNN:
            rec_k.rnn_forward(x, self.w_ih, self.w_hh, self.b, ws["xt"], ws["xw"], ws["hs"],
                              ws["tmp"], ws["w_t"], self.relu, self.fast)  # fmt: skip
        elif self.kind is nn.LSTM:
            rec_k.lstm_forward(x, self.w_ih, self.w_hh, self.b, ws["xt"], ws["xw"], ws["hs"],
                               ws["cs"], ws["gates"], ws["tanh_c"], ws["tmp"], ws["w_t"],
                               self.fast)  # fmt: skip
        else:
            rec_k.gru_forward(x, self.w_ih, self.w_hh, self.b_ih, self.b_hh, ws["xt"], ws["xw"],
                              ws["hs"], ws["gates"], ws["hn"], ws["tmp"], ws["w_t"],
                              self.fast)  # fmt: skip
        if self.last:
            return ws["hs"][-1]
        rec_k.swap_batch_time(ws["hs"][1:], ws["out"])
        return ws["out"]

    def backward(self, dy):
        ws = self.ws
        if self.last:
            d_all, d_last = self.none, dy
        else:
            rec_k.swap_batch_time(dy, ws["d_all"])
            d_all, d_last = ws["d_all"], ws["zeros_h"]
        if self.kind is nn.RNN:
            rec_k.rnn_backward(ws["xt"], self.w_ih, self.w_hh, ws["hs"], d_all, d_last,
                               ws["delta"], ws["dh"], self.gw_ih, self.gw_hh, self.gb, ws["dxt"],
                               ws["dx"], self.relu, self.need_dx)  # fmt: skip
        elif self.kind is nn.LSTM:
            rec_k.lstm_backward(ws["xt"], self.w_ih, self.w_hh, ws["hs"], ws["cs"], ws["gates"],
                                ws["tanh_c"], d_all, d_last, self.none2, ws["delta"], ws["dh"],
                                ws["dc"], self.gw_ih, self.gw_hh, self.gb, ws["dxt"], ws["dx"],
                                self.need_dx)  # fmt: skip
        else:
            rec_k.gru_backward(ws["xt"], self.w_ih, self.w_hh, ws["hs"], ws["gates"], ws["hn"],
                               d_all, d_last, ws["delta"], ws["delta_h"], ws["dh"],
                               ws["dh_prev"], self.gw_ih, self.gw_hh, self.gb_ih, self.gb_hh,
                               ws["dxt"], ws["dx"], self.need_dx)  # fmt: skip
        return ws["dx"]


class BatchNorm(Stage):
    """BatchNorm1d/2d; updates the layer's own running-average buffers in place."""

    has_params = True

    def __init__(self, name, layer, dtype):
        super().__init__(dtype)
        self.name, self.layer = name, layer
        cfg = layer.config()
        self.eps, self.momentum = float(cfg["eps"]), float(cfg["momentum"])
        self.gamma, self.beta = layer.weight.data, layer.bias.data
        self.dgamma, self.dbeta = _grad(layer.weight), _grad(layer.bias)
        self.channels = self.gamma.shape[0]

    def allocate(self, in_shape):
        if len(in_shape) < 2 or in_shape[1] != self.channels:
            raise ShapeError(f"{self.name}: expects (B, {self.channels}, ...), got {in_shape}")
        shape3 = (in_shape[0], self.channels, int(np.prod(in_shape[2:], dtype=np.int64)))
        return {
            "out_shape": in_shape,
            "in_shape": in_shape,
            "shape3": shape3,
            "y": self.buf(shape3),
            "xhat": self.buf(shape3),
            "inv_std": self.buf(self.channels),
            "dx": self.buf(shape3),
        }

    def forward(self, x, training):
        ws = self.ws
        x3 = x.reshape(ws["shape3"])
        layer = self.layer
        if training:
            if ws["shape3"][0] * ws["shape3"][2] < 2:
                raise ShapeError(
                    f"{self.name}: training needs more than one value per channel "
                    f"(input {ws['in_shape']}); use eval() for single samples"
                )
            norm_k.forward_train(x3, self.gamma, self.beta, ws["y"], ws["xhat"], ws["inv_std"],
                                 layer.running_mean, layer.running_var, self.eps,
                                 self.momentum)  # fmt: skip
        else:
            norm_k.forward_eval(x3, self.gamma, self.beta, ws["y"], layer.running_mean,
                                layer.running_var, self.eps)  # fmt: skip
        return ws["y"].reshape(ws["in_shape"])

    def backward(self, dy):
        ws = self.ws
        norm_k.backward(dy.reshape(ws["shape3"]), ws["xhat"], self.gamma, ws["inv_std"],
                        ws["dx"], self.dgamma, self.dbeta)  # fmt: skip
        return ws["dx"].reshape(ws["in_shape"])
