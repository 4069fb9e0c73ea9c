namespace LazyActors.Engine.Ranges;

/// <summary>
/// Storage of <see cref="PageRangeSet"/>: a treap (binary search tree keyed by range start, heap-ordered by random
/// priorities) whose nodes live in one growable array and are linked by index. Expected depth is O(log n), nodes
/// are recycled through a free list, so steady-state operations allocate nothing.
/// </summary>
public sealed partial class PageRangeSet
{
    private const int Nil = -1;
    private const int InitialCapacity = 16;

    private struct Node
    {
        public ulong Start;
        public ulong End;
        public ulong DumpStart;
        public int Left;
        public int Right;
        public uint Priority;
    }

    private Node[] _nodes;
    private int _root = Nil;
    private int _freeHead = Nil;
    private int _highWater;
    private uint _randomState;

    private AddressRange RangeOf(int node)
    {
        ref var n = ref _nodes[node];
        return new AddressRange(n.Start, n.End, n.DumpStart);
    }

    /// <summary>Xorshift32: a cheap, deterministic source of treap priorities.</summary>
    private uint NextPriority()
    {
        var x = _randomState;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        _randomState = x;
        return x;
    }

    private int AllocateNode(ulong start, ulong end, ulong dumpStart)
    {
        int index;
        if (_freeHead != Nil)
        {
            index = _freeHead;
            _freeHead = _nodes[index].Left;
        }
        else
        {
            if (_highWater == _nodes.Length)
            {
                Array.Resize(ref _nodes, _nodes.Length * 2);
            }

            index = _highWater++;
        }

        _nodes[index] = new Node
        {
            Start = start,
            End = end,
            DumpStart = dumpStart,
            Left = Nil,
            Right = Nil,
            Priority = NextPriority(),
        };
        return index;
    }

    private void FreeNode(int index)
    {
        _nodes[index].Left = _freeHead;
        _nodes[index].Right = Nil;
        _freeHead = index;
    }

    /// <summary>Splits subtree <paramref name="tree"/> into nodes with Start &lt; key and Start &gt;= key.</summary>
    private void SplitTree(int tree, ulong key, out int less, out int greaterOrEqual)
    {
        if (tree == Nil)
        {
            less = Nil;
            greaterOrEqual = Nil;
            return;
        }

        if (_nodes[tree].Start < key)
        {
            SplitTree(_nodes[tree].Right, key, out var rightLess, out greaterOrEqual);
            _nodes[tree].Right = rightLess;
            less = tree;
        }
        else
        {
            SplitTree(_nodes[tree].Left, key, out less, out var leftGreater);
            _nodes[tree].Left = leftGreater;
            greaterOrEqual = tree;
        }
    }

    /// <summary>Joins two subtrees where every key of <paramref name="low"/> is below every key of <paramref name="high"/>.</summary>
    private int MergeTrees(int low, int high)
    {
        if (low == Nil)
        {
            return high;
        }

        if (high == Nil)
        {
            return low;
        }

        if (_nodes[low].Priority > _nodes[high].Priority)
        {
            _nodes[low].Right = MergeTrees(_nodes[low].Right, high);
            return low;
        }

        _nodes[high].Left = MergeTrees(low, _nodes[high].Left);
        return high;
    }

    /// <summary>Inserts a new node; the caller guarantees its range overlaps no other.</summary>
    private void InsertNode(ulong start, ulong end, ulong dumpStart)
    {
        var node = AllocateNode(start, end, dumpStart);
        var priority = _nodes[node].Priority;

        // Walk down while the existing nodes outrank the new one, then split the rest of the path beneath it.
        ref var link = ref _root;
        while (link != Nil && _nodes[link].Priority >= priority)
        {
            ref var current = ref _nodes[link];
            link = ref start < current.Start ? ref current.Left : ref current.Right;
        }

        SplitTree(link, start, out var less, out var greater);
        _nodes[node].Left = less;
        _nodes[node].Right = greater;
        link = node;
        Count++;
    }

    /// <summary>Removes the node whose start is exactly <paramref name="start"/> (it must exist).</summary>
    private void DeleteNode(ulong start)
    {
        ref var link = ref _root;
        while (link != Nil)
        {
            ref var current = ref _nodes[link];
            if (current.Start == start)
            {
                var dead = link;
                link = MergeTrees(current.Left, current.Right);
                FreeNode(dead);
                Count--;
                return;
            }

            link = ref start < current.Start ? ref current.Left : ref current.Right;
        }

        throw new InvalidOperationException($"internal error: no range starts at 0x{start:x}");
    }

    /// <summary>Node with the greatest Start &lt;= <paramref name="key"/>, or Nil.</summary>
    private int FloorNode(ulong key)
    {
        var node = _root;
        var best = Nil;
        while (node != Nil)
        {
            if (_nodes[node].Start <= key)
            {
                best = node;
                node = _nodes[node].Right;
            }
            else
            {
                node = _nodes[node].Left;
            }
        }

        return best;
    }

    /// <summary>Node with the greatest Start &lt; <paramref name="key"/>, or Nil.</summary>
    private int LowerNode(ulong key)
    {
        var node = _root;
        var best = Nil;
        while (node != Nil)
        {
            if (_nodes[node].Start < key)
            {
                best = node;
                node = _nodes[node].Right;
            }
            else
            {
                node = _nodes[node].Left;
            }
        }

        return best;
    }

    /// <summary>Node with the least Start &gt;= <paramref name="key"/>, or Nil.</summary>
    private int CeilingNode(ulong key)
    {
        var node = _root;
        var best = Nil;
        while (node != Nil)
        {
            if (_nodes[node].Start >= key)
            {
                best = node;
                node = _nodes[node].Left;
            }
            else
            {
                node = _nodes[node].Right;
            }
        }

        return best;
    }

    /// <summary>Node with the least Start &gt; <paramref name="key"/>, or Nil.</summary>
    private int HigherNode(ulong key)
    {
        var node = _root;
        var best = Nil;
        while (node != Nil)
        {
            if (_nodes[node].Start > key)
            {
                best = node;
                node = _nodes[node].Left;
            }
            else
            {
                node = _nodes[node].Right;
            }
        }

        return best;
    }

    private int LowestNode()
    {
        var node = _root;
        if (node == Nil)
        {
            return Nil;
        }

        while (_nodes[node].Left != Nil)
        {
            node = _nodes[node].Left;
        }

        return node;
    }

    /// <summary>Node whose range contains <paramref name="address"/>, or Nil.</summary>
    private int NodeContaining(ulong address)
    {
        var node = FloorNode(address);
        return node != Nil && _nodes[node].End > address ? node : Nil;
    }
}
