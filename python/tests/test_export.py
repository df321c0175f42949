"""mira.export against ONNX Runtime (where torch is installed: several GB, so CI skips it)."""

import pytest

import mira


def test_export_checks_before_writing(tmp_path):
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnxruntime")
    net = torch.nn.Sequential(torch.nn.Conv2d(2, 3, 3, padding=1), torch.nn.ReLU())
    out = mira.export(net, torch.rand(1, 2, 8, 8), tmp_path / "m.onnx", verbose=False)
    assert out.is_file()


def test_a_missing_torch_gives_a_clear_message(monkeypatch):
    import builtins

    real = builtins.__import__

    def no_torch(name, *args, **kwargs):
        if name == "torch":
            raise ImportError("No module named 'torch'", name="torch")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_torch)
    with pytest.raises(ImportError, match="mira-robustness\\[export\\]"):
        mira.export(object(), (1, 2, 8, 8), "never.onnx")
