"""The matrix products of one mixgan training iteration (figure5 preset), for the arithmetic
floors the benchmarks print: every (m, k, n) of an [m, k] @ [k, n] product, forward and backward."""


def iteration_matmuls(objective="mixup", B=128, width=512, depth=3, z=2, d_steps=5):
    """(m, k, n) of every matrix product in one iteration of one run. ``objective`` standard
    trains D on one real+fake batch of 2B points; mixup (shuffled pairs) mixes two such batches
    into 2B points, so its single no-grad G pass makes twice the fakes."""
    dims = [z] + [width] * depth + [2]  # generator layers
    ddims = [2] + [width] * depth + [1]  # discriminator layers
    d_points = 2 * B
    g_points = d_steps * (2 * B if objective == "mixup" else B)
    shapes = []

    def forward(n, layers):
        shapes.extend((n, i, o) for i, o in zip(layers, layers[1:]))

    def backward(n, layers, weights=True, first_input=False):
        for j, (i, o) in enumerate(zip(layers, layers[1:])):
            if weights:
                shapes.append((o, n, i))  # grad of the weight [out, in]
            if j > 0 or first_input:
                shapes.append((n, o, i))  # grad of the layer's input

    forward(g_points, dims)  # one no-grad G pass for all discriminator steps
    for _ in range(d_steps):
        forward(d_points, ddims)
        backward(d_points, ddims)
    forward(B, dims)  # generator step
    forward(B, ddims)
    backward(B, ddims, weights=False, first_input=True)  # D frozen: input gradients only
    backward(B, dims)
    return shapes


def iteration_flops(**kw):
    """FLOPs of those products (2·m·k·n each)."""
    return sum(2 * m * k * n for m, k, n in iteration_matmuls(**kw))
