// Every relative link in the README and docs/ resolves inside the repository: a clone has nothing else.
import { describe, it } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";

const ROOT = path.resolve(__dirname, "../..");

function markdownFiles(): string[] {
    const docs = fs.existsSync(path.join(ROOT, "docs"))
        ? fs
              .readdirSync(path.join(ROOT, "docs"))
              .filter((f) => f.endsWith(".md"))
              .map((f) => path.join("docs", f))
        : [];
    return ["README.md", "app/README.md", ...docs];
}

/** Link targets of inline Markdown links, `[text](target)`, outside code spans and fences. */
export function linkTargets(markdown: string): string[] {
    const prose = markdown.replace(/```[\s\S]*?```/g, "").replace(/`[^`\n]*`/g, "");
    return [...prose.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)].map((m) => m[1]!);
}

describe("links in the README and docs/", () => {
    it("finds links the way Markdown writes them", () => {
        assert.deepEqual(linkTargets('[a](docs/x.md) `[b](no.md)` [c](https://e.example/) [d](#top "t")'), [
            "docs/x.md",
            "https://e.example/",
            "#top",
        ]);
    });

    for (const file of markdownFiles()) {
        it(`${file}: every relative link points at a file in the repository`, () => {
            const text = fs.readFileSync(path.join(ROOT, file), "utf8");
            const broken = linkTargets(text)
                .filter((t) => !/^[a-z][a-z0-9+.-]*:/i.test(t) && !t.startsWith("#"))
                .map((t) => t.split("#")[0]!)
                .filter((t) => {
                    const target = path.resolve(ROOT, path.dirname(file), decodeURIComponent(t));
                    return !target.startsWith(ROOT + path.sep) || !fs.existsSync(target);
                });
            assert.deepEqual(broken, [], `${file} links outside the repository or to missing files`);
        });
    }
});
