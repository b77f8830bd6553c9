using System.Text.Json;

namespace StepDistill.Serving;

/// <summary>What every generating request shares once parsed.</summary>
internal sealed record GenerationRequest(IReadOnlyList<string> Inputs, int? MaxTokens, bool Stream, bool IncludeUsage,
                                         IReadOnlyList<string> Stop, bool Explain = false);

/// <summary>
/// Parses OpenAI-style request bodies by hand so that each mistake gets a precise 400 naming its field.
/// Sampling fields (temperature, top_p, seed, penalties) are checked for type and otherwise ignored: the student
/// decodes deterministically (greedy or beam search, as the model's options say).
/// </summary>
internal static class Requests
{
    static readonly string[] Roles = ["system", "developer", "user", "assistant", "tool", "function"];

    public static GenerationRequest ParseChat(JsonElement root, string servedModel)
    {
        RequireObject(root);
        CheckModel(root, servedModel);
        if (!root.TryGetProperty("messages", out var messages) || messages.ValueKind == JsonValueKind.Null)
            throw ApiError.BadRequest("'messages' is required", "messages", "missing_required_parameter");
        if (messages.ValueKind != JsonValueKind.Array) throw ApiError.WrongType("messages", "an array of messages");
        if (messages.GetArrayLength() == 0) throw ApiError.BadRequest("'messages' must contain at least one message", "messages", "empty_array");
        string? lastUser = null;
        var i = 0;
        foreach (var m in messages.EnumerateArray())
        {
            var p = $"messages[{i++}]";
            if (m.ValueKind != JsonValueKind.Object) throw ApiError.WrongType(p, "an object");
            var role = OptString(m, "role", p + ".role") ?? throw ApiError.BadRequest($"'{p}.role' is required", p + ".role", "missing_required_parameter");
            if (!Roles.Contains(role)) throw ApiError.BadRequest($"'{p}.role' must be one of {string.Join(", ", Roles)}, got '{role}'", p + ".role", "invalid_value");
            var text = Content(m, p + ".content");
            if (role == "user") lastUser = text;
        }
        // The convention of the library's IChatClient: the last user message is the input; system messages and
        // earlier turns are not seen by the student (it was trained on single inputs).
        if (lastUser is null) throw ApiError.BadRequest("'messages' has no user message (the last user message is the model's input)", "messages", "missing_user_message");
        CheckInput(lastUser, "messages");
        if (root.TryGetProperty("tools", out var tools) && tools.ValueKind == JsonValueKind.Array && tools.GetArrayLength() > 0)
            throw ApiError.BadRequest("tools are not supported by this model", "tools", "unsupported_parameter");
        var maxTokens = MaxTokens(root, "max_completion_tokens") ?? MaxTokens(root, "max_tokens");
        return Common(root, [lastUser], maxTokens);
    }

    public static GenerationRequest ParseCompletion(JsonElement root, string servedModel, int maxInputs)
    {
        RequireObject(root);
        CheckModel(root, servedModel);
        if (!root.TryGetProperty("prompt", out var prompt) || prompt.ValueKind == JsonValueKind.Null)
            throw ApiError.BadRequest("'prompt' is required", "prompt", "missing_required_parameter");
        var inputs = StringOrArray(prompt, "prompt", maxInputs);
        if (OptBool(root, "echo") == true) throw ApiError.BadRequest("'echo' is not supported", "echo", "unsupported_parameter");
        if (root.TryGetProperty("logprobs", out var lp) && lp.ValueKind is not (JsonValueKind.Null or JsonValueKind.False) && !(lp.ValueKind == JsonValueKind.Number && lp.GetDouble() == 0))
            throw ApiError.BadRequest("'logprobs' is not supported", "logprobs", "unsupported_parameter");
        var r = Common(root, inputs, MaxTokens(root, "max_tokens"));
        if (r.Stream && inputs.Count > 1) throw ApiError.BadRequest("streaming takes one prompt; send several without 'stream'", "prompt", "invalid_value");
        return r;
    }

    public static GenerationRequest ParsePredict(JsonElement root, string servedModel, int maxInputs)
    {
        RequireObject(root);
        CheckModel(root, servedModel);
        if (!root.TryGetProperty("inputs", out var inputs) || inputs.ValueKind == JsonValueKind.Null)
            throw ApiError.BadRequest("'inputs' is required (an array of strings)", "inputs", "missing_required_parameter");
        if (inputs.ValueKind != JsonValueKind.Array) throw ApiError.WrongType("inputs", "an array of strings");
        var list = StringOrArray(inputs, "inputs", maxInputs);
        var explain = OptBool(root, "explain") ?? false;
        return new GenerationRequest(list, MaxTokens(root, "max_new_tokens"), false, false, [], explain);
    }

    static GenerationRequest Common(JsonElement root, IReadOnlyList<string> inputs, int? maxTokens)
    {
        if (OptInt(root, "n") is int n && n != 1) throw ApiError.BadRequest($"only n=1 is supported (greedy decoding gives one answer), got {n}", "n", "invalid_value");
        if (OptInt(root, "best_of") is int b && b != 1) throw ApiError.BadRequest($"only best_of=1 is supported, got {b}", "best_of", "invalid_value");
        CheckRange(root, "temperature", 0, 2);
        CheckRange(root, "top_p", 0, 1);
        CheckRange(root, "presence_penalty", -2, 2);
        CheckRange(root, "frequency_penalty", -2, 2);
        OptInt(root, "seed");
        var stream = OptBool(root, "stream") ?? false;
        var includeUsage = false;
        if (root.TryGetProperty("stream_options", out var so) && so.ValueKind != JsonValueKind.Null)
        {
            if (so.ValueKind != JsonValueKind.Object) throw ApiError.WrongType("stream_options", "an object");
            includeUsage = OptBool(so, "include_usage", "stream_options.include_usage") ?? false;
        }
        IReadOnlyList<string> stop = [];
        if (root.TryGetProperty("stop", out var s) && s.ValueKind != JsonValueKind.Null)
        {
            stop = s.ValueKind == JsonValueKind.String ? [s.GetString()!]
                : s.ValueKind == JsonValueKind.Array ? s.EnumerateArray().Select((x, i) => x.ValueKind == JsonValueKind.String ? x.GetString()! : throw ApiError.WrongType($"stop[{i}]", "a string")).ToArray()
                : throw ApiError.WrongType("stop", "a string or an array of strings");
            if (stop.Count > 4) throw ApiError.BadRequest("'stop' takes at most 4 sequences", "stop", "invalid_value");
            if (stop.Any(x => x.Length == 0)) throw ApiError.BadRequest("'stop' sequences must not be empty", "stop", "invalid_value");
        }
        return new GenerationRequest(inputs, maxTokens, stream, includeUsage, stop);
    }

    static int? MaxTokens(JsonElement root, string name)
    {
        var v = OptInt(root, name);
        if (v is < 1) throw ApiError.BadRequest($"'{name}' must be at least 1, got {v}", name, "invalid_value");
        return v;
    }

    static IReadOnlyList<string> StringOrArray(JsonElement e, string param, int maxInputs)
    {
        List<string> list;
        if (e.ValueKind == JsonValueKind.String) list = [e.GetString()!];
        else if (e.ValueKind == JsonValueKind.Array)
        {
            list = [];
            var i = 0;
            foreach (var x in e.EnumerateArray())
            {
                if (x.ValueKind != JsonValueKind.String) throw ApiError.WrongType($"{param}[{i}]", "a string");
                list.Add(x.GetString()!);
                i++;
            }
            if (list.Count == 0) throw ApiError.BadRequest($"'{param}' must contain at least one input", param, "empty_array");
        }
        else throw ApiError.WrongType(param, param == "inputs" ? "an array of strings" : "a string or an array of strings");
        if (list.Count > maxInputs) throw ApiError.BadRequest($"'{param}' has {list.Count} inputs; this server takes at most {maxInputs} per request", param, "too_many_inputs");
        for (var i = 0; i < list.Count; i++) CheckInput(list[i], list.Count == 1 && e.ValueKind == JsonValueKind.String ? param : $"{param}[{i}]");
        return list;
    }

    static void CheckInput(string input, string param)
    {
        if (string.IsNullOrWhiteSpace(input)) throw ApiError.BadRequest($"the input in '{param}' is empty", param, "empty_input");
    }

    static string? Content(JsonElement message, string param)
    {
        if (!message.TryGetProperty("content", out var c) || c.ValueKind == JsonValueKind.Null) return null;
        if (c.ValueKind == JsonValueKind.String) return c.GetString();
        if (c.ValueKind != JsonValueKind.Array) throw ApiError.WrongType(param, "a string or an array of content parts");
        var parts = new List<string>();
        var i = 0;
        foreach (var part in c.EnumerateArray())
        {
            var p = $"{param}[{i++}]";
            if (part.ValueKind != JsonValueKind.Object) throw ApiError.WrongType(p, "an object");
            var type = OptString(part, "type", p + ".type");
            if (type != "text") throw ApiError.BadRequest($"'{p}.type' must be 'text' (this model reads text only), got '{type}'", p + ".type", "unsupported_content");
            parts.Add(OptString(part, "text", p + ".text") ?? throw ApiError.BadRequest($"'{p}.text' is required", p + ".text", "missing_required_parameter"));
        }
        return string.Concat(parts);
    }

    static void RequireObject(JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object) throw ApiError.BadRequest("the request body must be a JSON object", null, "invalid_body");
    }

    static void CheckModel(JsonElement root, string served)
    {
        // Optional here (OpenAI requires it); when given it must name the model served.
        var model = OptString(root, "model");
        if (model is not null && model != served)
            throw new ApiError(404, $"The model '{model}' does not exist; this server serves '{served}'", ApiError.InvalidRequest, "model", "model_not_found");
    }

    static void CheckRange(JsonElement root, string name, double min, double max)
    {
        if (!root.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null) return;
        if (v.ValueKind != JsonValueKind.Number) throw ApiError.WrongType(name, "a number");
        var d = v.GetDouble();
        if (d < min || d > max) throw ApiError.BadRequest($"'{name}' must be between {min} and {max}, got {d}", name, "invalid_value");
    }

    static string? OptString(JsonElement obj, string name, string? param = null)
    {
        if (!obj.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null) return null;
        return v.ValueKind == JsonValueKind.String ? v.GetString() : throw ApiError.WrongType(param ?? name, "a string");
    }

    static int? OptInt(JsonElement obj, string name, string? param = null)
    {
        if (!obj.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null) return null;
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetInt32(out var i)) throw ApiError.WrongType(param ?? name, "an integer");
        return i;
    }

    static bool? OptBool(JsonElement obj, string name, string? param = null)
    {
        if (!obj.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null) return null;
        return v.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw ApiError.WrongType(param ?? name, "a boolean"),
        };
    }
}
