from bench_state_codec import run


def test_benchmark_runs_on_a_small_state():
    lines: list[str] = []
    results = run(vertices=2000, repeat=1, print_line=lines.append)
    assert results["safe_mb"] > 0 and results["pickle_lz4_mb"] > 0
    assert 0.5 < results["size_ratio"] < 2.0  # same compressor on the same bytes: sizes stay comparable
    assert any(line.startswith("safe / pickle+LZ4") for line in lines)
