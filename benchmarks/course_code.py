"""The course notes' code, transcribed as the notes write it (plain PyTorch + torchvision, DataLoaders,
per-image transforms), for ``course_parity.py``: the MNIST MLP, the CIFAR-10 CNN with flips and rotations
(20% validation, the best-validation checkpoint tested), the weight-initialisation comparison, the
convolutional denoiser and the VGG16 transfer set-up. Nothing here imports the playground.

Each function returns {"metric": test accuracy or PSNR (dB), "seconds": wall time of training + test}.
"""

from __future__ import annotations

import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, Subset
from torch.utils.data.sampler import SubsetRandomSampler
from torchvision import datasets, models, transforms


class MLP(nn.Module):
    def __init__(self, hidden_1=512, hidden_2=512, constant_weight=None):
        super().__init__()
        self.fc1 = nn.Linear(28 * 28, hidden_1)
        self.fc2 = nn.Linear(hidden_1, hidden_2)
        self.fc3 = nn.Linear(hidden_2, 10)
        self.dropout = nn.Dropout(0.2)
        if constant_weight is not None:
            for m in self.modules():
                if isinstance(m, nn.Linear):
                    nn.init.constant_(m.weight, constant_weight)
                    nn.init.constant_(m.bias, 0)

    def forward(self, x):
        x = x.view(-1, 28 * 28)
        x = self.dropout(F.relu(self.fc1(x)))
        x = self.dropout(F.relu(self.fc2(x)))
        return self.fc3(x)


class CifarNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, padding=1)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.conv3 = nn.Conv2d(32, 64, 3, padding=1)
        self.pool = nn.MaxPool2d(2, 2)
        self.fc1 = nn.Linear(64 * 4 * 4, 500)
        self.fc2 = nn.Linear(500, 10)
        self.dropout = nn.Dropout(0.25)

    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        x = self.pool(F.relu(self.conv3(x)))
        x = x.view(-1, 64 * 4 * 4)
        x = self.dropout(x)
        x = self.dropout(F.relu(self.fc1(x)))
        return self.fc2(x)


class ConvDenoiser(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, padding=1)
        self.conv2 = nn.Conv2d(32, 16, 3, padding=1)
        self.conv3 = nn.Conv2d(16, 8, 3, padding=1)
        self.pool = nn.MaxPool2d(2, 2)
        self.t_conv1 = nn.ConvTranspose2d(8, 8, 3, stride=2)
        self.t_conv2 = nn.ConvTranspose2d(8, 16, 2, stride=2)
        self.t_conv3 = nn.ConvTranspose2d(16, 32, 2, stride=2)
        self.conv_out = nn.Conv2d(32, 1, 3, padding=1)

    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        x = self.pool(F.relu(self.conv3(x)))
        x = F.relu(self.t_conv1(x))
        x = F.relu(self.t_conv2(x))
        x = F.relu(self.t_conv3(x))
        return torch.sigmoid(self.conv_out(x))


def _train_epoch(model, loader, criterion, optimizer):
    model.train()
    train_loss = 0.0
    for data, target in loader:
        optimizer.zero_grad()
        output = model(data)
        loss = criterion(output, target)
        loss.backward()
        optimizer.step()
        train_loss += loss.item() * data.size(0)
    return train_loss / len(loader.sampler)


@torch.no_grad()
def _test_accuracy(model, loader):
    model.eval()
    correct = total = 0
    for data, target in loader:
        correct += (model(data).argmax(1) == target).sum().item()
        total += len(target)
    return correct / total


def mnist_mlp(root: str, epochs: int = 1, seed: int = 0) -> dict:
    """The notes' MNIST MLP: ToTensor, batches of 20, no shuffle, SGD lr 0.01."""
    t0 = time.perf_counter()
    torch.manual_seed(seed)
    transform = transforms.ToTensor()
    train_data = datasets.MNIST(root=root, train=True, download=False, transform=transform)
    test_data = datasets.MNIST(root=root, train=False, download=False, transform=transform)
    train_loader = DataLoader(train_data, batch_size=20, num_workers=0)
    test_loader = DataLoader(test_data, batch_size=20, num_workers=0)
    model = MLP()
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    for _ in range(epochs):
        _train_epoch(model, train_loader, criterion, optimizer)
    return {"metric": _test_accuracy(model, test_loader), "seconds": time.perf_counter() - t0}


def _init(kind: str):
    """The course's weights_init_* functions (Linear layers; biases 0)."""

    def apply(m):
        if isinstance(m, nn.Linear):
            n = m.in_features
            y = 1.0 / np.sqrt(n)
            if kind == "uniform_01":
                m.weight.data.uniform_(0.0, 1.0)
            elif kind == "uniform_centered":
                m.weight.data.uniform_(-0.5, 0.5)
            elif kind == "uniform_rule":
                m.weight.data.uniform_(-y, y)
            elif kind == "normal_rule":
                m.weight.data.normal_(0, y)
            m.bias.data.fill_(0)

    return apply


def init_compare(root: str, kind: str, epochs: int = 2, seed: int = 0, normalise: bool = False) -> dict:
    """The course's initialisation helpers: MLP 256-128, batches of 100, 20% validation, Adam lr 0.001 (its
    ``_get_loss_acc``; the notes' generic loop uses SGD, the lesson's helper Adam)."""
    # normalise: inputs standardised with MNIST's training statistics (not the course's code: the contrast).
    t0 = time.perf_counter()
    torch.manual_seed(seed)
    np.random.seed(seed)
    transform = transforms.ToTensor()
    if normalise:
        transform = transforms.Compose([transform, transforms.Normalize((0.1307,), (0.3081,))])
    train_data = datasets.MNIST(root=root, train=True, download=False, transform=transform)
    test_data = datasets.MNIST(root=root, train=False, download=False, transform=transform)
    indices = list(range(len(train_data)))
    np.random.shuffle(indices)
    split = int(np.floor(0.2 * len(train_data)))
    train_loader = DataLoader(train_data, batch_size=100, sampler=SubsetRandomSampler(indices[split:]))
    test_loader = DataLoader(test_data, batch_size=100)
    model = MLP(256, 128, constant_weight=0 if kind == "zeros" else None)
    if kind != "zeros":
        model.apply(_init(kind))
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.001)
    for _ in range(epochs):
        _train_epoch(model, train_loader, criterion, optimizer)
    return {"metric": _test_accuracy(model, test_loader), "seconds": time.perf_counter() - t0}


def cifar_cnn(folder: str, epochs: int = 3, limit: int = 8000, seed: int = 0) -> dict:
    """The notes' CIFAR-10 CNN: flips + RandomRotation(10), Normalize(0.5, 0.5), batches of 20, 20% validation
    (SubsetRandomSampler), SGD lr 0.01, the checkpoint with the lowest validation loss tested. ``limit``: the
    training images the playground uses (its folder order's first ``limit``)."""
    t0 = time.perf_counter()
    torch.manual_seed(seed)
    np.random.seed(seed)
    norm = transforms.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
    train_tf = transforms.Compose(
        [transforms.RandomHorizontalFlip(), transforms.RandomRotation(10), transforms.ToTensor(), norm]
    )
    test_tf = transforms.Compose([transforms.ToTensor(), norm])
    train_all = datasets.ImageFolder(f"{folder}/train", transform=train_tf)
    order = torch.randperm(len(train_all), generator=torch.Generator().manual_seed(0))[:limit].tolist()
    train_data = Subset(train_all, order)
    test_data = datasets.ImageFolder(f"{folder}/test", transform=test_tf)
    indices = list(range(len(train_data)))
    np.random.shuffle(indices)
    split = int(np.floor(0.2 * len(train_data)))
    train_loader = DataLoader(train_data, batch_size=20, sampler=SubsetRandomSampler(indices[split:]))
    valid_loader = DataLoader(train_data, batch_size=20, sampler=SubsetRandomSampler(indices[:split]))
    test_loader = DataLoader(test_data, batch_size=20)
    model = CifarNet()
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    valid_loss_min, best = np.inf, None
    for _ in range(epochs):
        _train_epoch(model, train_loader, criterion, optimizer)
        model.eval()
        valid_loss = 0.0
        with torch.no_grad():
            for data, target in valid_loader:
                valid_loss += criterion(model(data), target).item() * data.size(0)
        valid_loss /= len(valid_loader.sampler)
        if valid_loss <= valid_loss_min:  # the course saves model_cifar.pt here
            valid_loss_min, best = valid_loss, {k: v.clone() for k, v in model.state_dict().items()}
    model.load_state_dict(best)
    return {"metric": _test_accuracy(model, test_loader), "seconds": time.perf_counter() - t0}


def psnr(pred, target):
    mse = (pred - target).square().flatten(1).mean(1)
    return 10 * torch.log10(1.0 / mse.clamp_min(1e-10))


def denoiser(root: str, epochs: int = 1, seed: int = 0, noise_factor: float = 0.5) -> dict:
    """The course's denoiser: ToTensor, batches of 20, no shuffle, noise 0.5 clipped, MSE, Adam lr 0.001.
    The figure: mean PSNR of the test reconstructions under the same noise (seeded)."""
    t0 = time.perf_counter()
    torch.manual_seed(seed)
    transform = transforms.ToTensor()
    train_data = datasets.MNIST(root=root, train=True, download=False, transform=transform)
    test_data = datasets.MNIST(root=root, train=False, download=False, transform=transform)
    train_loader = DataLoader(train_data, batch_size=20, num_workers=0)
    test_loader = DataLoader(test_data, batch_size=20, num_workers=0)
    model = ConvDenoiser()
    criterion = nn.MSELoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.001)
    for _ in range(epochs):
        for images, _ in train_loader:
            noisy_imgs = images + noise_factor * torch.randn(*images.shape)
            noisy_imgs = np.clip(noisy_imgs, 0.0, 1.0)
            optimizer.zero_grad()
            outputs = model(noisy_imgs)
            loss = criterion(outputs, images)
            loss.backward()
            optimizer.step()
    model.eval()
    g, total, n = torch.Generator().manual_seed(seed + 1), 0.0, 0
    with torch.no_grad():
        for images, _ in test_loader:
            noisy = (images + noise_factor * torch.randn(images.shape, generator=g)).clamp(0, 1)
            total += psnr(model(noisy), images).sum().item()
            n += len(images)
    return {"metric": total / n, "seconds": time.perf_counter() - t0}


def vgg16_trainable(num_classes: int = 10) -> int:
    """The notes' transfer set-up: features frozen, classifier[6] replaced; the parameters its optimiser
    (``SGD(vgg16.classifier.parameters(), lr=0.001)``) trains. Random weights: the count is the same."""
    with torch.device("meta"):
        vgg16 = models.vgg16(weights=None)
        for param in vgg16.features.parameters():
            param.requires_grad = False
        vgg16.classifier[6] = nn.Linear(vgg16.classifier[6].in_features, num_classes)
    return sum(p.numel() for p in vgg16.classifier.parameters())
