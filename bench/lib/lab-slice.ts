/**
 * A view of some hosts of a lab as a lab of their own (hosts re-indexed from 0), so two tools can
 * share one bridge (only 198.51.100.0/24 may have a root-namespace address, for the simulators)
 * while each sees "its" 3 hosts. Every call goes to the underlying lab; destroy() is the owner's.
 */
import type { ExecOptions, ExecResult, HostRef, Lab, LabHost } from '../../test/lib/netns.js';
import type { ChildProcess, SpawnOptions } from 'node:child_process';

export function sliceLab(lab: Lab, from: number, count: number): Lab {
  const real = lab.hosts.slice(from, from + count);
  if (real.length !== count) throw new Error(`sliceLab: hosts ${from}..${from + count - 1} not in a lab of ${lab.hosts.length}`);
  const hosts: LabHost[] = real.map((h, i) => ({ ...h, index: i, name: `h${i}` }));
  const underlying = (ref: HostRef): LabHost => {
    if (typeof ref === 'number') {
      const h = real[ref];
      if (!h) throw new Error(`lab slice: no host ${ref}`);
      return h;
    }
    const ns = typeof ref === 'string' ? hosts.find((h) => h.name === ref || h.ns === ref)?.ns : ref.ns;
    const h = real.find((x) => x.ns === ns);
    if (!h) throw new Error(`lab slice: no host ${typeof ref === 'string' ? ref : ref.ns}`);
    return h;
  };
  return {
    hosts,
    bridge: lab.bridge,
    bridgeAddress: lab.bridgeAddress,
    subnet: lab.subnet,
    host: (ref: HostRef) => hosts[real.indexOf(underlying(ref))]!,
    exec: (ref: HostRef, argv: string[], options?: ExecOptions): Promise<ExecResult> => lab.exec(underlying(ref), argv, options),
    spawn: (ref: HostRef, argv: string[], options?: SpawnOptions): ChildProcess => lab.spawn(underlying(ref), argv, options),
    cut: (ref: HostRef) => lab.cut(underlying(ref)),
    heal: (ref: HostRef) => lab.heal(underlying(ref)),
    setLoss: (ref: HostRef, percent: number) => lab.setLoss(underlying(ref), percent),
    destroy: async () => undefined,
  };
}
