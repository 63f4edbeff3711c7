"""workbench.hardware: every probe, with both answers simulated, so each branch runs on any machine."""

from __future__ import annotations

import os

import pytest
import torch

from workbench import compression, hardware
from workbench.environment import cpu_info

# The first processor block of two real cpuinfo files, trimmed: the AVX2-only AMD EPYC and the AVX-512 one.
AVX2_EPYC = ("processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B12\n"
             "flags\t\t: fpu sse2 avx avx2 fma bmi2\n\nprocessor\t: 1\nflags\t\t: avx512f avx512_bf16\n")
AVX512_EPYC = ("processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 9B14\n"
               "flags\t\t: fpu sse2 avx avx2 fma avx512f avx512bw avx512_bf16 avx512_vnni\n")


@pytest.fixture
def fake_cpuinfo(tmp_path):
    def write(text: str):
        path = tmp_path / "cpuinfo"
        path.write_text(text)
        return path
    return write


def test_cpu_flags_come_from_the_first_processor_block(fake_cpuinfo):
    assert hardware.cpu_flags(fake_cpuinfo(AVX2_EPYC)) == {"fpu", "sse2", "avx", "avx2", "fma", "bmi2"}
    assert hardware.cpu_fields(fake_cpuinfo(AVX2_EPYC))["model name"] == "AMD EPYC 7B12"


def test_unreadable_cpuinfo_means_no_flags(tmp_path):
    assert hardware.cpu_fields(tmp_path / "missing") == {}
    assert hardware.cpu_flags(tmp_path / "missing") == frozenset()


@pytest.mark.parametrize("text,bf16,avx512,vnni", [(AVX2_EPYC, False, False, False),
                                                    (AVX512_EPYC, True, True, True)])
def test_cpu_probes_answer_from_the_flags(fake_cpuinfo, text, bf16, avx512, vnni):
    flags = hardware.cpu_flags(fake_cpuinfo(text))
    assert (hardware.cpu_has_native_bf16(flags), hardware.cpu_has_avx512(flags), hardware.cpu_has_vnni(flags)) == (
        bf16, avx512, vnni)


@pytest.mark.parametrize("flags,expected", [({"amx_bf16", "amx_tile"}, True), ({"avx512_bf16"}, True),
                                            ({"avx512f", "avx512_vnni"}, False), (set(), False)])
def test_native_bf16_means_amx_bf16_or_avx512_bf16(flags, expected):
    assert hardware.cpu_has_native_bf16(flags) is expected


@pytest.mark.parametrize("flags,expected", [({"avx_vnni"}, True), ({"avx512_vnni"}, True), ({"avx512f"}, False)])
def test_vnni_means_avx512_vnni_or_avx_vnni(flags, expected):
    assert hardware.cpu_has_vnni(flags) is expected


@pytest.mark.parametrize("text,expected", [(AVX2_EPYC, False), (AVX512_EPYC, True)])
def test_cpu_probes_read_this_machines_flags_by_default(monkeypatch, fake_cpuinfo, text, expected):
    path, read = fake_cpuinfo(text), hardware.cpu_flags
    monkeypatch.setattr(hardware, "cpu_flags", lambda: read(path))  # this machine, simulated
    assert hardware.cpu_has_native_bf16() is hardware.cpu_has_avx512() is hardware.cpu_has_vnni() is expected


@pytest.mark.parametrize("available,bf16,expected", [(False, False, (False, False)), (False, True, (False, False)),
                                                     (True, False, (True, False)), (True, True, (True, True))])
def test_cuda_probes_with_a_fake_torch_cuda(monkeypatch, available, bf16, expected):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: available)

    def is_bf16_supported(*args, **kwargs):
        assert available, "asked a GPU that is not there"
        return bf16

    monkeypatch.setattr(torch.cuda, "is_bf16_supported", is_bf16_supported)
    assert (hardware.cuda_available(), hardware.cuda_bf16_available()) == expected


def test_usable_cores_follows_the_affinity_mask(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 3, 5}, raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 64)
    assert hardware.usable_cores() == 3


@pytest.mark.parametrize("count,expected", [(6, 6), (None, 1)])
def test_usable_cores_without_an_affinity_mask_falls_back_to_cpu_count(monkeypatch, count, expected):
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: count)
    assert hardware.usable_cores() == expected


def test_usable_cores_when_the_affinity_call_fails(monkeypatch):
    def refuse(pid):
        raise OSError("not permitted")

    monkeypatch.setattr(os, "sched_getaffinity", refuse, raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    assert hardware.usable_cores() == 4


@pytest.mark.parametrize("text,model,flags", [
    (AVX2_EPYC, "AMD EPYC 7B12", ["avx2", "fma"]),
    (AVX512_EPYC, "AMD EPYC 9B14", ["avx2", "avx512_bf16", "avx512_vnni", "avx512bw", "avx512f", "fma"]),
])
def test_cpu_info_reports_what_the_probes_read(monkeypatch, fake_cpuinfo, text, model, flags):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {1, 2}, raising=False)
    info = cpu_info(fake_cpuinfo(text))
    assert (info["model"], info["flags"], info["usable_cores"]) == (model, flags, 2)


def test_compression_counts_cores_and_threads_through_the_probe(monkeypatch):
    assert compression.usable_cores is hardware.usable_cores
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2}, raising=False)
    previous = torch.get_num_threads()
    with compression.torch_threads(0):  # 0: all usable cores
        assert torch.get_num_threads() == 3
    assert torch.get_num_threads() == previous
