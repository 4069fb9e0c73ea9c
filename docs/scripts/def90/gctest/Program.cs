// Allocates 12 MiB in 1 KiB arrays (a daemon restore's order of magnitude), keeping a quarter alive, and prints the collections.
var keep = new List<byte[]>();
for (int i = 0; i < 12 * 1024; i++) { var a = new byte[1000]; if (i % 4 == 0) keep.Add(a); }
Console.WriteLine($"GCs {GC.CollectionCount(0)}/{GC.CollectionCount(1)}/{GC.CollectionCount(2)} gen0size-prop={AppContext.GetData("System.GC.Gen0Size")} kept={keep.Count}");
