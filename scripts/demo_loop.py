"""The baseline the benchmarks compare mixgan against: one GAN iteration of the figure5
algorithm written the way the authors' demo code writes it (fakes not detached in D steps,
inputs with ``requires_grad=True``, each mixup step generating its two real+fake batches with
separate G passes, the generator step running D on a real+fake batch, torch's default Adam)."""
import torch
import torch.nn.functional as F

from mixgan.data.registry import make_data
from mixgan.nets.mlp import MLPDiscriminator, MLPGenerator


def demo_iteration(objective, device, data_name="ring", alpha=0.2, B=128, width=512):
    """A function that runs one demo-style iteration of a fresh seeded run each time it is called."""
    torch.manual_seed(0)
    G = MLPGenerator(2, 2, width, 3).to(device)
    D = MLPDiscriminator(2, width, 3).to(device)
    opt_g, opt_d = torch.optim.Adam(G.parameters()), torch.optim.Adam(D.parameters())
    data, gen = make_data(data_name), torch.Generator(device).manual_seed(0)

    def batch():
        real = data.sample(B, gen)
        fake = G(torch.randn(B, 2, device=device))  # not detached: the graph reaches G
        x = torch.cat([real, fake])
        y = torch.cat([torch.ones(B, device=device), torch.zeros(B, device=device)])
        perm = torch.randperm(2 * B, device=device)
        return x[perm].requires_grad_(True), y[perm]

    def one_iteration():
        for _ in range(5):
            if objective == "mixup":
                (x1, y1), (x2, y2) = batch(), batch()
                lam = alpha * torch.rand(2 * B, 1, device=device)
                x, y = lam * x1 + (1 - lam) * x2, lam[:, 0] * y1 + (1 - lam[:, 0]) * y2
            else:
                x, y = batch()
            loss = F.binary_cross_entropy_with_logits(D(x), y)
            opt_d.zero_grad()
            opt_g.zero_grad()
            loss.backward()
            opt_d.step()
        x, y = batch()
        g_loss = -F.binary_cross_entropy_with_logits(D(x), y)
        opt_g.zero_grad()
        opt_d.zero_grad()
        g_loss.backward()
        opt_g.step()

    return one_iteration
