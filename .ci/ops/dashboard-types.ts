// Strict types for dashboards/*.json, built from Grafana's own @grafana/schema types.
// Used by check-dashboard.mjs, which embeds the dashboard JSON as a literal that must
// satisfy `StrictDashboard` and runs `tsc --noEmit --strict`.
//
// On top of @grafana/schema's `Dashboard` this checks each panel's `options` and
// `fieldConfig.defaults.custom` against the panel plugin's own types (stat, table,
// timeseries, state-timeline), types the Prometheus targets, and requires every panel and
// target to use the `${datasource}` template variable.
import type { AnnotationQuery, Dashboard, FieldConfigSource, Panel, RowPanel } from '@grafana/schema';
import type * as Stat from '@grafana/schema/dist/esm/raw/composable/stat/panelcfg/x/StatPanelCfg_types.gen';
import type * as Table from '@grafana/schema/dist/esm/raw/composable/table/panelcfg/x/TablePanelCfg_types.gen';
import type * as TimeSeries from '@grafana/schema/dist/esm/raw/composable/timeseries/panelcfg/x/TimeSeriesPanelCfg_types.gen';
import type * as StateTimeline from '@grafana/schema/dist/esm/raw/composable/statetimeline/panelcfg/x/StateTimelinePanelCfg_types.gen';

// JSON holds enum *values*: turn each (string) enum type into the union of its literal values,
// recursively, so `"mode": "thresholds"` type-checks and `"mode": "treshold"` does not.
type Lit<T> = T extends string
  ? `${T}`
  : T extends number | boolean | null | undefined
    ? T
    : T extends Array<infer U>
      ? Array<Lit<U>>
      : T extends object
        ? { [K in keyof T]: Lit<T[K]> }
        : T;

type DatasourceVar = { type: 'prometheus'; uid: '${datasource}' };

export interface PromTarget {
  refId: string;
  datasource: DatasourceVar;
  expr: string;
  editorMode?: 'code' | 'builder';
  legendFormat?: string;
  range?: boolean;
  instant?: boolean;
  format?: 'time_series' | 'table' | 'heatmap';
  interval?: string;
  exemplar?: boolean;
  hide?: boolean;
}

type DefaultsWithCustom<C> = Omit<FieldConfigSource['defaults'], 'custom'> & { custom?: Partial<C> };
type StrictFieldConfig<C> = Omit<FieldConfigSource, 'defaults'> & { defaults: DefaultsWithCustom<C> };

type PanelOf<TType extends string, TOptions, TCustom> = Omit<
  Panel,
  'type' | 'options' | 'fieldConfig' | 'targets' | 'datasource'
> & {
  type: TType;
  datasource: DatasourceVar;
  targets: PromTarget[];
  options: Partial<TOptions>;
  fieldConfig: StrictFieldConfig<TCustom>;
};

export type StrictPanel =
  | PanelOf<'stat', Stat.Options, Record<never, never>>
  | PanelOf<'table', Table.Options, Table.FieldConfig>
  | PanelOf<'timeseries', TimeSeries.Options, TimeSeries.FieldConfig>
  | PanelOf<'state-timeline', StateTimeline.Options, StateTimeline.FieldConfig>;

// Grafana's built-in "Annotations & Alerts" entry.
type BuiltInAnnotation = Omit<AnnotationQuery, 'builtIn'> & { builtIn: 1 };
// A Prometheus annotation as Grafana 10+ stores it: the query in `target`, formats on top.
type PromAnnotation = Omit<AnnotationQuery, 'builtIn' | 'datasource' | 'target'> & {
  builtIn?: undefined;
  datasource: DatasourceVar;
  target: { refId: string; expr: string; interval?: string; legendFormat?: string };
  titleFormat?: string;
  textFormat?: string;
  tagKeys?: string;
  useValueForTime?: boolean;
};

export type StrictDashboard = Lit<
  Omit<Dashboard, 'panels' | 'annotations'> & {
    annotations: { list: Array<BuiltInAnnotation | PromAnnotation> };
    panels: Array<StrictPanel | (RowPanel & { type: 'row' })>;
  }
>;
