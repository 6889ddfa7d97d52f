import Anthropic from '@anthropic-ai/sdk';
import type { MessageParam, Tool } from '@anthropic-ai/sdk/resources/messages';
import {
  type AgentMessage,
  type ChatProvider,
  MODEL_RETRIES,
  type ModelTurn,
  type ToolCall,
  type TurnRequest,
} from './chat-provider.js';

/** Anthropic Messages. The SDK reads ANTHROPIC_BASE_URL and ANTHROPIC_API_KEY. */
export function anthropicProvider(model: string): ChatProvider {
  const client = new Anthropic({ maxRetries: MODEL_RETRIES });
  return {
    name: 'anthropic',
    model,
    async turn(request: TurnRequest): Promise<ModelTurn> {
      const stream = await client.messages.create(
        {
          model,
          stream: true,
          max_tokens: request.maxOutputTokens,
          system: request.system,
          messages: toAnthropic(request.messages),
          ...(request.tools.length > 0 ? { tools: request.tools.map(toTool) } : {}),
        },
        request.signal ? { signal: request.signal } : {},
      );
      let text = '';
      const calls = new Map<number, ToolCall>();
      const usage = { inputTokens: 0, outputTokens: 0 };
      for await (const event of stream) {
        switch (event.type) {
          case 'message_start':
            usage.inputTokens = event.message.usage.input_tokens;
            usage.outputTokens = event.message.usage.output_tokens;
            break;
          case 'content_block_start':
            if (event.content_block.type === 'tool_use')
              calls.set(event.index, {
                id: event.content_block.id,
                name: event.content_block.name,
                arguments: '',
              });
            break;
          case 'content_block_delta':
            if (event.delta.type === 'text_delta') {
              text += event.delta.text;
              request.onText?.(event.delta.text);
            } else if (event.delta.type === 'input_json_delta') {
              const call = calls.get(event.index);
              if (call) call.arguments += event.delta.partial_json;
            }
            break;
          case 'message_delta':
            usage.outputTokens = event.usage.output_tokens;
            break;
          case 'content_block_stop':
          case 'message_stop':
            break;
        }
      }
      // A tool called with no arguments streams none: that is the empty object.
      for (const call of calls.values()) call.arguments ||= '{}';
      return { text, toolCalls: [...calls.values()], usage };
    },
  };
}

function toTool(tool: TurnRequest['tools'][number]): Tool {
  return {
    name: tool.name,
    description: tool.description,
    input_schema: { ...tool.inputSchema, type: 'object' },
  };
}

/** Tool results go back as a user message of tool_result blocks, one per call, in order. */
function toAnthropic(messages: readonly AgentMessage[]): MessageParam[] {
  const out: MessageParam[] = [];
  for (const message of messages) {
    if (message.role === 'user') {
      // After tool results (a resumed session's note), one user message holds both.
      const last = out.at(-1);
      if (last?.role === 'user' && Array.isArray(last.content))
        last.content.push({ type: 'text', text: message.text });
      else out.push({ role: 'user', content: message.text });
    } else if (message.role === 'assistant')
      out.push({
        role: 'assistant',
        content: [
          ...(message.text ? [{ type: 'text' as const, text: message.text }] : []),
          ...message.toolCalls.map((call) => ({
            type: 'tool_use' as const,
            id: call.id,
            name: call.name,
            input: parseOrEmpty(call.arguments),
          })),
        ],
      });
    else {
      const block = {
        type: 'tool_result' as const,
        tool_use_id: message.callId,
        content: message.text,
        is_error: message.isError,
      };
      const last = out.at(-1);
      if (last?.role === 'user' && Array.isArray(last.content)) last.content.push(block);
      else out.push({ role: 'user', content: [block] });
    }
  }
  return out;
}

function parseOrEmpty(text: string): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : {};
  } catch {
    return {};
  }
}
