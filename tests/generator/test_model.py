"""The denoiser and its S4D layers: shapes, label embeddings, kernel caching."""

import pytest
import torch

from generator.model import MODEL_PRESETS, SSSD, count_parameters
from generator.s4 import S4D, S4DKernel, vandermonde_product

from .conftest import tiny_config


@pytest.mark.parametrize("kind", ["sssd", "nle"])
def test_denoiser_keeps_shape_and_dtype(kind):
    model = SSSD(tiny_config(label_embedding=kind))
    x_t = torch.randn(3, 8, 200)
    labels = torch.tensor([[1.0, 0, 1], [0, 1, 0], [0, 0, 0]])
    out = model(x_t, torch.tensor([0, 5, 99]), labels)
    assert out.shape == (3, 8, 200)
    assert out.dtype == torch.float32


def test_label_embeddings_tell_labels_apart():
    torch.manual_seed(0)
    for kind in ["sssd", "nle"]:
        model = SSSD(tiny_config(label_embedding=kind))
        emb = model.label_embedding(torch.tensor([[1.0, 0, 0], [0, 1, 0]]))
        assert emb.shape == (2, 16)
        assert not torch.allclose(emb[0], emb[1])


def test_dropped_labels_use_the_null_embedding():
    model = SSSD(tiny_config())
    labels = torch.tensor([[1.0, 0, 0], [0, 1, 0]])
    emb = model.label_embedding(labels, torch.tensor([True, True]))
    assert torch.equal(emb[0], emb[1])


def test_nle_present_vector_is_zero_so_all_present_is_the_mixer_bias():
    model = SSSD(tiny_config(label_embedding="nle"))
    emb = model.label_embedding(torch.ones(1, 3))
    assert torch.allclose(emb[0], model.label_embedding.mix.bias.expand(16))


def test_wrong_input_shapes_are_rejected_with_the_expected_shape():
    model = SSSD(tiny_config())
    with pytest.raises(ValueError, match=r"\(B, 8, 200\)"):
        model(torch.randn(1, 12, 200), torch.tensor([0]), torch.zeros(1, 3))
    with pytest.raises(ValueError, match="multi-hot"):
        model(torch.randn(1, 8, 200), torch.tensor([0]), torch.zeros(1, 5))


def test_config_rejects_unknown_label_embedding():
    with pytest.raises(ValueError, match="label_embedding"):
        tiny_config(label_embedding="onehot")


@pytest.mark.parametrize("length", [1, 37, 250])
def test_factored_vandermonde_product_matches_the_direct_sum(length):
    torch.manual_seed(0)
    dtA = (-torch.rand(4, 6) + 1j * torch.rand(4, 6) * 3) * 0.1
    C = torch.randn(2, 4, 6, dtype=torch.cfloat)
    powers = torch.exp(dtA[..., None] * torch.arange(length))  # (H, N/2, L)
    direct = torch.einsum("khn,hnl->khl", C, powers)
    assert torch.allclose(vandermonde_product(C, dtA, length), direct, atol=1e-4)


def test_s4d_kernel_is_real_with_one_kernel_per_direction():
    k = S4DKernel(channels=5, state_size=8, n_kernels=2)(length=30)
    assert k.shape == (2, 5, 30)
    assert k.dtype == torch.float32


def test_cached_kernels_give_identical_outputs_and_are_computed_once():
    torch.manual_seed(0)
    layer = S4D(channels=6, state_size=8).eval()
    u = torch.randn(2, 6, 40)
    calls = []
    layer.kernel.register_forward_hook(lambda *args: calls.append(1))
    with torch.no_grad():
        layer.use_kernel_cache = False
        uncached = layer(u)
        layer.use_kernel_cache = True
        first, second = layer(u), layer(u)
    assert torch.equal(uncached, first)
    assert torch.equal(first, second)
    assert len(calls) == 2  # once uncached, once for both cached calls


def test_kernel_cache_is_dropped_when_training_or_loading_weights():
    layer = S4D(channels=6, state_size=8).eval()
    with torch.no_grad():
        layer(torch.randn(1, 6, 40))
    assert layer._kernel_cache
    layer.load_state_dict(S4D(channels=6, state_size=8).state_dict())
    assert not layer._kernel_cache
    with torch.no_grad():
        layer(torch.randn(1, 6, 40))
    layer.train()
    assert not layer._kernel_cache


def test_kernels_are_not_cached_while_gradients_flow():
    layer = S4D(channels=6, state_size=8).eval()
    layer(torch.randn(1, 6, 40)).sum().backward()
    assert not layer._kernel_cache
    assert layer.kernel.log_dt.grad is not None


def test_sssd_ecg_preset_has_the_papers_size_and_runs_one_forward_step():
    cfg = MODEL_PRESETS["sssd-ecg"]
    assert (cfg.n_blocks, cfg.res_channels, cfg.s4_channels) == (36, 256, 512)
    assert (cfg.s4_state, cfg.length, cfg.patch, cfg.n_labels) == (64, 1000, 1, 71)
    torch.manual_seed(0)
    model = SSSD(cfg).eval()
    assert 45e6 < count_parameters(model) < 60e6
    labels = torch.zeros(1, 71)
    labels[0, 3] = 1
    with torch.no_grad():
        out = model(torch.randn(1, 8, 1000), torch.tensor([10]), labels)
    assert out.shape == (1, 8, 1000)
    assert torch.isfinite(out).all()
