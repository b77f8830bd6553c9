using StepDistill.Student.Hub;
using static StepDistill.Student.Tests.Hub.HubTestData;

namespace StepDistill.Student.Tests.Hub;

/// <summary>The Hub token goes to the Hub's origin only: never to a CDN on another origin that a redirect points to.</summary>
public class TokenOriginTests
{
    const string Secret = "hf_ORIGIN_secret_42";
    const string Repo = "test-org/gated-t5";

    [Fact]
    public async Task The_token_is_sent_to_the_hub_and_stripped_on_a_redirect_to_another_origin()
    {
        using var tmp = new TempDir();
        using var cdn = new FakeHub(Gated(Secret));            // a second loopback port: another origin
        using var hub = new FakeHub(Gated(Secret)) { CdnEndpoint = cdn.Endpoint };
        Assert.NotEqual(new Uri(hub.Endpoint).Port, new Uri(cdn.Endpoint).Port);

        var snapshot = await ModelResolver.ResolveAsync(Repo, Options(hub.Endpoint, tmp.Path, token: Secret));

        var weights = Gated(Secret).Commits[Main]["model.safetensors"];
        Assert.Equal(weights, File.ReadAllBytes(Path.Combine(snapshot, "model.safetensors")));
        // Every request to the Hub carried the token (the repository is gated: it would have failed otherwise) ...
        Assert.NotEmpty(hub.Requests);
        Assert.All(hub.Requests, r => Assert.Equal("Bearer " + Secret, r.Authorization));
        Assert.DoesNotContain(hub.Requests, r => r.Method == "GET" && r.Path.StartsWith("/cdn/", StringComparison.Ordinal));
        // ... and none of the redirected downloads did.
        var cdnGets = cdn.Requests.Where(r => r.Method == "GET" && r.Path.StartsWith("/cdn/", StringComparison.Ordinal)).ToList();
        Assert.Contains(cdnGets, r => r.Path == "/cdn/" + FakeHub.Sha256(weights));
        Assert.All(cdn.Requests, r => Assert.Null(r.Authorization));
    }

    [Fact]
    public async Task A_redirect_within_the_hub_origin_keeps_the_token()
    {
        using var tmp = new TempDir();
        using var hub = new FakeHub(Gated(Secret)); // LFS redirects to its own /cdn/

        await ModelResolver.ResolveAsync(Repo, Options(hub.Endpoint, tmp.Path, token: Secret));

        var cdnGets = hub.Requests.Where(r => r.Method == "GET" && r.Path.StartsWith("/cdn/", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(cdnGets);
        Assert.All(cdnGets, r => Assert.Equal("Bearer " + Secret, r.Authorization));
    }
}
