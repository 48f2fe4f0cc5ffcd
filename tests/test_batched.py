

def test_fast_path_choices_on_the_cpu():
    from mixgan import fast_path
    cpu = torch.device("cpu")
    assert fast_path.want_graph(None, cpu) is False and fast_path.want_graph(False, cpu) is False
    assert fast_path.adam_options(cpu, False) == {"fused": True}
    assert fast_path.adam_options(torch.device("cuda"), True) == {"fused": True, "capturable": True}
    calls = []
    step = fast_path.Stepper(lambda: calls.append(1), False, [], cpu)
    for it in range(1, 6):
        step(it)
    assert len(calls) == 5 and step.note is None  # eager: exactly one iteration per call
