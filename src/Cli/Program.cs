using TorchSharp;
var t = torch.ones(2, 3);
Console.WriteLine($"sum={t.sum().item<float>()}");
