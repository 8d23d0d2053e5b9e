"""The mapper: config validation, temporal split, loss, seeded training, prediction."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from avstudio.cancel import CancelToken  # noqa: E402
from avstudio.errors import Cancelled, ManifestError, StageError  # noqa: E402
from avstudio.mapper.model import MapperConfig, build_mapper, expected_shapes  # noqa: E402
from avstudio.mapper.train import (  # noqa: E402
    FIELDS,
    TrainConfig,
    mapper_loss,
    predict,
    split_contiguous,
    train_mapper,
    window_gap,
)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def synthetic(n: int = 400, da: int = 16, di: int = 8, *, scale: float = 3.0, seed: int = 0):
    """Targets = a fixed nonlinear function of the input direction, plus noise.

    Mean target norm is about 8, far from what an untrained mapper outputs.
    """
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, da)).astype(np.float32)
    u = x / np.linalg.norm(x, axis=1, keepdims=True)
    a = rng.normal(size=(da, 32))
    b = rng.normal(size=(32, di)) / 4
    y = np.tanh(u @ a) @ b + 0.05 * rng.normal(size=(n, di))
    return x, (scale * y).astype(np.float32)


FAST = {"epochs": 60, "hidden": 64, "batch_size": 32, "gap_frames": 0}


def loss_np(pred: np.ndarray, target: np.ndarray, **weights) -> float:
    return mapper_loss(torch.from_numpy(pred), torch.from_numpy(target), **weights).item()


# --------------------------------------------------------------------------- config


def test_fields_cover_every_train_key_including_mapper_shape():
    assert set(FIELDS) == set(TrainConfig().to_dict())
    assert {"hidden", "depth", "dropout"} <= set(FIELDS)
    assert FIELDS["epochs"].default == 200 and FIELDS["epochs"].type is int
    assert FIELDS["gap_frames"].default is None
    assert str(FIELDS["lr"].range) == "> 0"
    assert str(FIELDS["val_fraction"].range) == "0 < x < 1"
    assert str(FIELDS["dropout"].range) == "0 <= x < 1"


def test_from_dict_takes_values_and_defaults():
    config = TrainConfig.from_dict({"epochs": 3, "lr": 1, "gap_frames": 4, "hidden": 32})
    assert (config.epochs, config.lr, config.gap_frames, config.hidden) == (3, 1.0, 4, 32)
    assert isinstance(config.lr, float)
    assert config.batch_size == 64 and config.patience == 20  # early stopping by default
    assert config.mapper_config(70, 32) == MapperConfig(70, 32, hidden=32, depth=2, dropout=0.2)


@pytest.mark.parametrize(
    ("table", "words"),
    [
        ({"lr": -1.0}, ["train.lr", "> 0"]),
        ({"epochs": 0}, ["train.epochs", ">= 1"]),
        ({"epochs": 2.5}, ["train.epochs", "int"]),
        ({"dropout": 1.0}, ["train.dropout", "0 <= x < 1"]),
        ({"val_fraction": 1.5}, ["train.val_fraction", "0 < x < 1"]),
        ({"batch_size": True}, ["train.batch_size"]),
        ({"cos_weight": 0, "mse_weight": 0}, ["train.cos_weight", "train.mse_weight"]),
        ({"learning_rate": 0.1}, ["train.learning_rate"]),
    ],
)
def test_from_dict_rejects_bad_values_with_dotted_path_and_range(table, words):
    with pytest.raises(ManifestError) as info:
        TrainConfig.from_dict(table)
    text = info.value.one_line()
    for word in words:
        assert word in text


def test_window_gap_is_window_length_in_frames():
    assert window_gap(1.0, 25) == 25
    assert window_gap(0.5, 29.97) == 15
    assert window_gap(0.0, 30) == 0


# --------------------------------------------------------------------------- split


def test_split_contiguous_validation_is_last_block_after_gap():
    train, val = split_contiguous(100, val_fraction=0.15, gap=5)
    assert train.tolist() == list(range(80))
    assert val.tolist() == list(range(85, 100))
    assert not set(train) & set(val)
    assert val.min() - train.max() - 1 == 5


def test_split_contiguous_without_gap_and_minimum_sizes():
    train, val = split_contiguous(10, val_fraction=0.15, gap=0)
    assert (len(train), len(val)) == (8, 2)
    assert train[-1] == 7 and val[0] == 8
    train, val = split_contiguous(3, val_fraction=0.01, gap=1)
    assert train.tolist() == [0] and val.tolist() == [2]


def test_split_contiguous_refuses_when_nothing_is_left_to_train():
    with pytest.raises(StageError, match="too few frames"):
        split_contiguous(10, val_fraction=0.5, gap=5)


# --------------------------------------------------------------------------- model and loss


def test_build_mapper_has_the_original_shape():
    config = MapperConfig(8, 4, hidden=16, depth=2, dropout=0.1)
    model = build_mapper(config)
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert shapes == expected_shapes(config)
    kinds = [type(m).__name__ for m in model.layers]
    assert kinds == ["Linear", "LayerNorm", "ReLU", "Dropout"] * 2 + ["Linear"]
    model.eval()
    x = torch.randn(5, 8)
    with torch.no_grad():  # the input is L2-normalised: scale does not matter
        assert torch.allclose(model(x), model(3.0 * x), atol=1e-6)
        assert model(x).shape == (5, 4)


def test_mapper_config_round_trip():
    config = MapperConfig(70, 32, hidden=128, depth=3, dropout=0.0)
    assert MapperConfig.from_dict(config.to_dict()) == config


def test_mapper_loss_known_values():
    pred = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    target = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    # cosine 1 for both rows; squared errors 0, 0, 0, 1 -> mse 0.25
    assert mapper_loss(pred, target, cos_weight=1, mse_weight=1).item() == pytest.approx(0.25)
    assert mapper_loss(pred, -target, cos_weight=1, mse_weight=0).item() == pytest.approx(2.0)


# --------------------------------------------------------------------------- training


@pytest.fixture(scope="module")
def trained(one_thread):
    x, y = synthetic()
    return x, y, train_mapper(x, y, config=TrainConfig(**FAST))


def test_training_beats_predicting_the_mean(trained):
    x, y, result = trained
    y_val = y[result.val_idx]
    mean = np.broadcast_to(y[result.train_idx].mean(axis=0), y_val.shape).copy()
    baseline = loss_np(mean, y_val)
    assert result.best_val_loss < 0.2 * baseline
    assert result.history[-1]["val_loss"] < result.history[0]["val_loss"] / 3
    # the returned weights are the best epoch's: recomputing its loss agrees
    pred = predict(result.state_dict, result.mapper_config, x[result.val_idx])
    assert loss_np(pred, y_val) == pytest.approx(result.best_val_loss, rel=1e-5)
    assert result.val_idx.tolist() == list(range(340, 400))
    assert all(v.dtype == np.float32 for v in result.state_dict.values())


def test_training_is_bit_identical_for_a_seed():
    x, y = synthetic(n=200)
    config = TrainConfig(**{**FAST, "epochs": 8})
    a = train_mapper(x, y, config=config)
    b = train_mapper(x, y, config=config)
    assert a.state_dict.keys() == b.state_dict.keys()
    assert all(np.array_equal(a.state_dict[k], b.state_dict[k]) for k in a.state_dict)
    assert a.history == b.history
    c = train_mapper(x, y, config=TrainConfig(**{**FAST, "epochs": 8, "seed": 1}))
    assert not np.array_equal(a.state_dict["layers.0.weight"], c.state_dict["layers.0.weight"])


def test_training_leaves_the_callers_torch_rng_alone():
    x, y = synthetic(n=100)
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    train_mapper(x, y, config=TrainConfig(**{**FAST, "epochs": 2}))
    assert torch.equal(torch.rand(3), expected)


def test_mse_term_gets_the_length_right_where_cosine_alone_does_not(trained):
    x, y, with_mse = trained
    cosine_only = train_mapper(x, y, config=TrainConfig(**FAST, mse_weight=0.0))
    ratios = {}
    for mse_weight, result in ((1.0, with_mse), (0.0, cosine_only)):
        pred = predict(result.state_dict, result.mapper_config, x[result.val_idx])
        true = y[result.val_idx]
        ratios[mse_weight] = np.linalg.norm(pred, axis=1).mean() / np.linalg.norm(true, axis=1).mean()
    assert abs(ratios[1.0] - 1.0) < 0.10
    assert abs(ratios[0.0] - 1.0) > 0.30


def test_on_epoch_patience_and_gap_from_window():
    x, y = synthetic(n=100)
    seen = []
    result = train_mapper(
        x, y,
        config=TrainConfig(epochs=5, hidden=16, val_fraction=0.2),
        window_frames=10,
        on_epoch=lambda *args: seen.append(args),
    )
    assert [s[:2] for s in seen] == [(1, 5), (2, 5), (3, 5), (4, 5), (5, 5)]
    assert [h["epoch"] for h in result.history] == [1, 2, 3, 4, 5]
    assert result.train_idx.tolist() == list(range(70)) and result.val_idx[0] == 80
    assert result.train_config.gap_frames == 10  # the gap actually used is recorded

    # lr 0 never improves after epoch 1, so patience 2 stops at epoch 3
    stuck = train_mapper(x, y, config=TrainConfig(epochs=50, hidden=16, lr=1e-12, patience=2, dropout=0))
    assert len(stuck.history) == 3 and stuck.best_epoch == 1 and stuck.stopped_early
    assert len(stuck.history) - stuck.best_epoch == 2


def test_cancel_stops_training():
    x, y = synthetic(n=100)
    token = CancelToken()
    with pytest.raises(Cancelled):
        train_mapper(
            x, y,
            config=TrainConfig(epochs=50, hidden=16),
            on_epoch=lambda epoch, *_: token.cancel() if epoch == 2 else None,
            cancel=token,
        )


def test_nan_embeddings_are_a_stage_error():
    x, y = synthetic(n=50)
    x[3, 2] = np.nan
    with pytest.raises(StageError, match="audio embeddings contain NaN"):
        train_mapper(x, y, config=TrainConfig(epochs=1, hidden=8))


def test_diverging_training_is_a_stage_error():
    x, y = synthetic(n=60)
    with pytest.raises(StageError, match="diverged") as info:
        train_mapper(x, y, config=TrainConfig(epochs=5, hidden=8, lr=1e30))
    assert "train.lr" in info.value.hint


def test_predict_batches_match_one_pass():
    config = MapperConfig(6, 3, hidden=8, depth=1)
    torch.manual_seed(0)
    state = {k: v.numpy() for k, v in build_mapper(config).state_dict().items()}
    x = np.random.default_rng(1).normal(size=(10, 6)).astype(np.float32)
    whole = predict(state, config, x)
    assert whole.shape == (10, 3) and whole.dtype == np.float32
    np.testing.assert_allclose(predict(state, config, x, batch_size=3), whole, rtol=1e-6, atol=1e-6)
