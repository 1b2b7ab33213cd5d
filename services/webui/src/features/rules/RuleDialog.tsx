import { useRef, useState, type FormEvent } from "react";
import { Alert } from "../../components/Alert";
import { Dialog } from "../../components/Dialog";
import { Field } from "../../components/Field";
import { toApiError } from "../../lib/api-error";
import { parseProtocol, ruleAction, splitList, useRuleMutations, type Rule, type RuleAction, type RuleInput, type WriteMeta } from "./api";
import { parseVlan, validateRule } from "./validate";

const RULE_FIELDS = ["name", "action", "protocol", "src", "dst", "src_ports", "dst_ports", "vlan", "enabled", "description"];
/** Form order, for moving focus to the first field that needs attention. */
const INPUT_NAMES = ["name", "action", "protocol", "src", "dst", "src_ports", "dst_ports", "vlan", "description"];

export function RuleDialog({ rule, onClose, onSaved }: {
  rule: Rule | "new";
  onClose: () => void;
  /** After a successful save: the rule as stored and the write's version / publish outcome. */
  onSaved?: (saved: Rule, meta: WriteMeta, created: boolean) => void;
}) {
  const isNew = rule === "new";
  const init = isNew ? null : rule;
  const { create, update } = useRuleMutations();
  const form = useRef<HTMLFormElement>(null);
  const [name, setName] = useState(init?.name ?? "");
  const [action, setAction] = useState<RuleAction>(ruleAction(init?.action) ?? "drop");
  const [protocol, setProtocol] = useState(String(init?.protocol ?? "any"));
  const [src, setSrc] = useState(init?.src.join(", ") ?? "");
  const [dst, setDst] = useState(init?.dst.join(", ") ?? "");
  const [srcPorts, setSrcPorts] = useState(init?.src_ports.join(", ") ?? "");
  const [dstPorts, setDstPorts] = useState(init?.dst_ports.join(", ") ?? "");
  const [vlan, setVlan] = useState(init?.vlan == null ? "" : String(init.vlan));
  const [enabled, setEnabled] = useState(init?.enabled ?? true);
  const [description, setDescription] = useState(init?.description ?? "");
  const [error, setError] = useState<string | null>(null);
  const [fields, setFields] = useState<Record<string, string>>({});

  function showProblems(perField: Record<string, string>, summary: string) {
    setFields(perField);
    setError(summary);
    const first = INPUT_NAMES.find((f) => perField[f]);
    if (first) requestAnimationFrame(() => (form.current?.elements.namedItem(first) as HTMLElement | null)?.focus());
  }

  async function onSubmit(e: FormEvent) {
    e.preventDefault();
    setError(null);
    setFields({});
    // Checked here first: nothing half-understood is sent (a VLAN "abc" must not become "any").
    const problems = validateRule({ name, protocol, src, dst, srcPorts, dstPorts, vlan });
    if (Object.keys(problems).length) {
      showProblems(problems, "Please correct the highlighted fields.");
      return;
    }
    const body: RuleInput = {
      name: name.trim(),
      action,
      protocol: parseProtocol(protocol),
      src: splitList(src),
      dst: splitList(dst),
      src_ports: splitList(srcPorts),
      dst_ports: splitList(dstPorts),
      vlan: parseVlan(vlan) ?? null,
      enabled,
      description,
    };
    try {
      const saved = isNew ? await create.mutateAsync(body) : await update.mutateAsync({ id: rule.id, ...body });
      onSaved?.(saved.data, saved.meta, isNew);
      onClose();
    } catch (err) {
      const apiErr = toApiError(err);
      if (apiErr.code !== "validation_error") {
        setError(apiErr.message);
        return;
      }
      const grouped = apiErr.fieldErrorsFor(RULE_FIELDS);
      // Rule-wide complaints (ports without a port protocol) have no field of their own.
      const { "": general, ...perField } = grouped;
      showProblems(perField, ["Please correct the highlighted fields.", general].filter(Boolean).join(" "));
    }
  }

  return (
    <Dialog open title={isNew ? "New rule" : `Edit rule ${init?.name}`} onClose={onClose}>
      <form ref={form} onSubmit={onSubmit} className="space-y-3" noValidate>
        {error && <Alert>{error}</Alert>}
        <Field label="Name" name="name" required maxLength={100} value={name} error={fields.name} onChange={(e) => setName(e.target.value)} />
        <div className="grid gap-3 sm:grid-cols-2">
          <div>
            <label className="label" htmlFor="rule-action">Action</label>
            <select id="rule-action" name="action" className="input" value={action} onChange={(e) => setAction(e.target.value as RuleAction)}
              aria-invalid={fields.action ? true : undefined} aria-describedby={fields.action ? "rule-action-err" : undefined}>
              <option value="allow">allow</option>
              <option value="drop">drop</option>
              <option value="count">count</option>
            </select>
            {fields.action && <p id="rule-action-err" className="field-error" role="alert">{fields.action}</p>}
          </div>
          <div>
            <Field label="Protocol" name="protocol" list="protocols" value={protocol} error={fields.protocol} onChange={(e) => setProtocol(e.target.value)}
              hint="any, tcp, udp, icmp, icmpv6 or 0–255" />
            <datalist id="protocols">
              {["any", "tcp", "udp", "icmp", "icmpv6"].map((p) => <option key={p} value={p} />)}
            </datalist>
          </div>
        </div>
        <div className="grid gap-3 sm:grid-cols-2">
          <Field label="Source CIDRs" name="src" value={src} error={fields.src} onChange={(e) => setSrc(e.target.value)} hint="Comma-separated; empty = any" />
          <Field label="Destination CIDRs" name="dst" value={dst} error={fields.dst} onChange={(e) => setDst(e.target.value)} hint="Comma-separated; empty = any" />
          <Field label="Source ports" name="src_ports" value={srcPorts} error={fields.src_ports} onChange={(e) => setSrcPorts(e.target.value)} hint='e.g. "80, 1000-2000"' />
          <Field label="Destination ports" name="dst_ports" value={dstPorts} error={fields.dst_ports} onChange={(e) => setDstPorts(e.target.value)} hint='e.g. "443"' />
          <Field label="VLAN" name="vlan" inputMode="numeric" value={vlan} error={fields.vlan} onChange={(e) => setVlan(e.target.value)} hint="0–4095; empty = any" />
          <label className="mt-6 flex items-center gap-2 text-sm">
            <input type="checkbox" name="enabled" className="h-4 w-4 accent-amber-400" checked={enabled} onChange={(e) => setEnabled(e.target.checked)} />
            Enabled
          </label>
        </div>
        <Field label="Description" name="description" value={description} error={fields.description} onChange={(e) => setDescription(e.target.value)} />
        <div className="flex justify-end gap-2 pt-2">
          <button type="button" className="btn-secondary" onClick={onClose}>Cancel</button>
          <button type="submit" className="btn-primary" disabled={create.isPending || update.isPending}>Save rule</button>
        </div>
      </form>
    </Dialog>
  );
}
