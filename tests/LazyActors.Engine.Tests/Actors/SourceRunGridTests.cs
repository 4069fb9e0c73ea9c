using LazyActors.Engine.Actors.Remote;
using Xunit;

namespace LazyActors.Engine.Tests.Actors;

/// <summary><see cref="SourceRunGrid"/>: where a GET is cut once a short reply told where a run of the source ended.</summary>
public sealed class SourceRunGridTests
{
    private const ulong Page = 4096;
    private const ulong Base = 0x7f00_0000_0000;

    [Fact]
    public void Nothing_learnt_cuts_nothing()
    {
        var grid = new SourceRunGrid();

        Assert.Equal(4096, grid.Clamp(1, Base, 4096));
    }

    [Fact]
    public void A_learnt_end_cuts_every_1024_pages_on_both_sides_of_it_and_only_for_its_task()
    {
        var grid = new SourceRunGrid();
        grid.Learn(1, Base + (3 * Page));

        Assert.Equal(1024, grid.Clamp(1, Base + (3 * Page), 1024)); // starts on an end: a whole run
        Assert.Equal(1019, grid.Clamp(1, Base + (8 * Page), 1024));
        Assert.Equal(1, grid.Clamp(1, Base + (1026 * Page), 1024)); // one page before the next end
        Assert.Equal(3, grid.Clamp(1, Base, 1024)); // below the learnt end: the grid goes on backwards
        Assert.Equal(2, grid.Clamp(1, Base + (8 * Page), 2)); // never more than asked
        Assert.Equal(1024, grid.Clamp(2, Base + (8 * Page), 1024));
    }

    [Fact]
    public void A_later_short_reply_moves_the_grid()
    {
        var grid = new SourceRunGrid();
        grid.Learn(1, Base + (3 * Page));
        grid.Learn(1, Base + (100 * Page));

        Assert.Equal(92, grid.Clamp(1, Base + (8 * Page), 1024));
    }
}
